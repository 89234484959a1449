// Package buildinfo says which gatehouse is running: the version, commit and
// build date stamped by release builds (-ldflags -X), or else what the Go
// toolchain recorded (the module version and the VCS revision and time).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by release builds, e.g.
//
//	go build -trimpath -ldflags "-X github.com/gatehouse-id/gatehouse/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/gatehouse-id/gatehouse/internal/buildinfo.commit=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-id/gatehouse/internal/buildinfo.date=$(date -u +%FT%TZ)"
var version, commit, date string

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	// Modified: built from a working tree with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
}

var (
	once sync.Once
	info Info
)

// Get returns the build information ("dev" and "unknown" where nothing says).
func Get() Info {
	once.Do(func() {
		info = Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
		if bi, ok := debug.ReadBuildInfo(); ok {
			if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				info.Version = bi.Main.Version
			}
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					if info.Commit == "" {
						info.Commit = s.Value
					}
				case "vcs.time":
					if info.Date == "" {
						info.Date = s.Value
					}
				case "vcs.modified":
					info.Modified = s.Value == "true"
				}
			}
		}
		if info.Version == "" {
			info.Version = "dev"
		}
		if info.Commit == "" {
			info.Commit = "unknown"
		}
		if info.Date == "" {
			info.Date = "unknown"
		}
	})
	return info
}
