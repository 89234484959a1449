package clientspec

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// ValidateRedirectURI applies the registration rules: an absolute URI of at
// most maxURILength characters, without whitespace, control characters,
// user info or a fragment, with a valid port; https, or http on a loopback
// host; other schemes only for public (native) clients, as reverse domain
// names (RFC 8252 §7.1), and never one a browser runs or reads locally
// (javascript:, data:, about:, blob: …).
func ValidateRedirectURI(raw string, public bool) error {
	if len(raw) > maxURILength {
		return badRedirect("redirect URI is longer than %d characters", maxURILength)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return badRedirect("redirect URI %q contains whitespace or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return badRedirect("redirect URI %q must be an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return badRedirect("redirect URI %q must not contain a fragment", raw)
	}
	if u.User != nil {
		return badRedirect("redirect URI %q must not contain user information", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return badRedirect("redirect URI %q: port %s is not between 1 and 65535", raw, p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return badRedirect("redirect URI %q has an empty port", raw)
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source", "ws", "wss", "ftp", "mailto", "tel", "sms":
		return badRedirect("redirect URI %q: scheme %s is not allowed", raw, u.Scheme)
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return badRedirect("redirect URI %q has no host", raw)
		}
	case "http":
		if !config.IsLoopbackHost(u.Hostname()) {
			return badRedirect("redirect URI %q: http is only allowed for loopback (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if !public {
			return badRedirect("redirect URI %q: custom schemes are only for native (public) clients", raw)
		}
		if !strings.Contains(u.Scheme, ".") {
			// RFC 8252 §7.1: a private-use scheme is a reverse domain name
			// the app controls, so another app cannot claim it by accident.
			return badRedirect("redirect URI %q: a native app's scheme must be a reverse domain name it controls, such as com.example.app", raw)
		}
	}
	return nil
}

// RedirectURIMatches says whether a requested redirect URI is one of the
// registered ones: byte for byte, except that for an http loopback address
// the port may differ (RFC 8252 §7.3: native apps listen on any free port).
// Host, path (as written, escapes included), query and the absence of user
// information and fragment must be identical.
func RedirectURIMatches(requested string, registered []string) bool {
	if slices.Contains(registered, requested) {
		return true
	}
	q, err := url.Parse(requested)
	if err != nil || q.Scheme != "http" || q.User != nil || q.Fragment != "" || strings.Contains(requested, "#") || q.Opaque != "" {
		return false
	}
	if ip := net.ParseIP(q.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, r := range registered {
		g, err := url.Parse(r)
		if err != nil || g.Scheme != "http" || g.User != nil {
			continue
		}
		if g.Hostname() == q.Hostname() && g.EscapedPath() == q.EscapedPath() && g.RawQuery == q.RawQuery && g.ForceQuery == q.ForceQuery {
			return true
		}
	}
	return false
}

// WebOrigin is the origin (scheme://host[:port]) of an https URL or an http
// URL on a loopback host.
func WebOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !config.IsLoopbackHost(u.Hostname())) {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// ValidateCORSOrigin checks an allowed_cors_origins entry: an https origin,
// or http on loopback, without a path, query or fragment.
func ValidateCORSOrigin(raw string) error {
	u, err := url.Parse(raw)
	if _, ok := WebOrigin(raw); !ok || err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return BadMetadata("allowed_cors_origins: %q is not an https origin (scheme://host[:port])", raw)
	}
	return nil
}
