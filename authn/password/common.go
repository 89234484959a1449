package password

import (
	_ "embed"
	"strings"
	"sync"
)

// common.txt lists passwords people choose most (zxcvbn's frequency list,
// the entries of 8 characters or more; see common-LICENSE.txt).
//
//go:embed common.txt
var commonList string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 12000)
	for _, p := range strings.Split(commonList, "\n") {
		if p = strings.TrimSpace(p); p != "" {
			m[strings.ToLower(p)] = struct{}{}
		}
	}
	return m
})

// Common reports whether pw is one of the most common passwords (case
// ignored), which a guesser tries first (NIST SP 800-63B §5.1.1.2).
func Common(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}
