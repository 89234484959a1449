// Package conformance is gatehouse's black-box suite. Its tests build the
// real binary, start it on 127.0.0.1 against SQLite and PostgreSQL, and drive
// it only over HTTP, with a cookie jar, golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3, after the OpenID Foundation OP test plans
// (testdata/oidf-op-checks.md transcribes them; the check ids cited as C…
// are its). TestOIDFPlans replays the Config, Basic, RP-Initiated Logout and
// Back-Channel RP-Initiated Logout plans module by module, and docs/conformance.md is generated from what
// the tests record (oidf_report_test.go).
//
// Out by design: implicit and hybrid response types and the password grant
// (RFC 9700 / OAuth 2.1); the Dynamic OP profile's implicit requirements
// (C127, C128) therefore do not apply. Unsigned request objects are taken
// only from a client registered with request_object_signing_alg none.
package conformance
