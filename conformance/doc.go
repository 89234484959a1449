// Package conformance is gatehouse's black-box suite. Its tests build the
// real binary, start it on 127.0.0.1 against SQLite and PostgreSQL, and drive
// it only over HTTP, with a cookie jar, golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3, after the OpenID Foundation OP test plans
// (see ../shared/reference/oidf-op-checks.md for the check ids cited as C…).
//
// Out by design: implicit and hybrid response types, the password grant and
// unsigned request objects (RFC 9700 / OAuth 2.1); the Dynamic OP profile's
// implicit requirements (C127, C128) therefore do not apply.
package conformance
