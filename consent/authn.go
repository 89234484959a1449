package consent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/provider/interaction"
)

// Authenticator is one login step: a password, a passkey, a TOTP code or a
// backup code. Steps never touch the http.ResponseWriter, so each one is
// table-testable; the pages call them and the flow keeps their state.
type Authenticator interface {
	// Method names the step ("pwd", "passkey", "otp", "backup").
	Method() string
	// Start prepares the step (a passkey challenge); State in the returned
	// Prompt is kept server-side in the flow until Verify.
	Start(ctx context.Context, a Attempt) (Prompt, error)
	// Verify checks the user's answer. A wrong answer is ErrAuthFailed (or
	// wraps it); other errors are the server's.
	Verify(ctx context.Context, a Attempt, in Input) (Result, error)
}

// Attempt is what a step knows about the login it is part of.
type Attempt struct {
	// Subject is the user already identified by an earlier factor ("" for
	// a first factor).
	Subject string
	// State is what Start left (single use).
	State []byte
}

// Prompt is what Start gives the page.
type Prompt struct {
	// Options is the browser's part (WebAuthn options as JSON), or nil.
	Options json.RawMessage
	// State stays on the server, in the flow, until Verify.
	State []byte
}

// Input is the user's answer to a step.
type Input struct {
	Email, Password, Code string
	// Credential is a WebAuthn response (JSON) from the browser.
	Credential []byte
}

// Result is a passed step: who it proved and with which amr values.
type Result struct {
	Subject  string
	AMR      []string
	AuthTime time.Time
}

// ErrAuthFailed is a wrong answer; the pages show one message for it.
var ErrAuthFailed = errors.New("authentication failed")

// factorKinds maps amr values (RFC 8176) to the kind of factor they are.
// "user" is only ever recorded when the authenticator verified the user
// (the WebAuthn UV flag), so it counts as a factor of its own.
var factorKinds = map[string]string{
	"pwd": "knowledge", "pin": "knowledge",
	"otp": "possession", "hwk": "possession", "swk": "possession",
	"user": "inherence",
	"fed":  "federated",
}

// assurance is the pure policy: the acr earned by a set of amr values and
// the amr to report (with "mfa" when two kinds of factor were used).
//
// An upstream's own amr values (trusted connectors) arrive as "fed:<value>":
// they count only together, as the upstream login being one factor or two.
func assurance(amr []string) (acr string, out []string) {
	kinds, upstream := map[string]bool{}, map[string]bool{}
	for _, m := range amr {
		if v, ok := strings.CutPrefix(m, "fed:"); ok {
			if k, ok := factorKinds[v]; ok && v != "fed" {
				upstream[k] = true
			}
			if v == "mfa" {
				upstream["mfa"] = true
			}
			continue
		}
		if k, ok := factorKinds[m]; ok {
			kinds[k] = true
		}
	}
	if kinds["federated"] && (len(upstream) >= 2 || upstream["mfa"]) {
		kinds["federated-second"] = true // the upstream did two factors
	}
	out = make([]string, 0, len(amr)+1)
	for _, m := range amr {
		m = strings.TrimPrefix(m, "fed:")
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(kinds) >= 2 {
		if !slices.Contains(out, "mfa") {
			out = append(out, "mfa")
		}
		return interaction.ACRTwoFactor, out
	}
	out = slices.DeleteFunc(out, func(m string) bool { return m == "mfa" }) // an upstream's claim we do not count
	return interaction.ACROneFactor, out
}

// reportedAMR is the amr for tokens: with "mfa" when earned.
func reportedAMR(amr []string) []string {
	_, out := assurance(amr)
	return out
}

// policy is the acr a set of amr values earns.
func policy(amr []string) string {
	acr, _ := assurance(amr)
	return acr
}

// mfaDemand says how strongly a request asks for two factors: required
// (the client or the server insists) or wanted (acr_values asks for it and
// accepts nothing weaker; voluntary per OpenID Connect, so a user without a
// second factor still signs in and the ID token's acr tells the truth).
func mfaDemand(req interaction.AuthorizeRequest, global bool) (required, wanted bool) {
	if req.ClientID != "" && (global || req.RequireMFA) {
		return true, true
	}
	wants2, accepts1 := false, false
	for _, v := range req.ACRValues {
		switch v {
		case interaction.ACRTwoFactor:
			wants2 = true
		case interaction.ACROneFactor:
			accepts1 = true
		}
	}
	return false, wants2 && !accepts1
}

// lockout limits guesses at a second factor per key (an account or an
// address): after Free failures the key is locked for Base, doubling with
// every further failure up to Max. A success clears the key. It is in
// memory, per replica.
type lockout struct {
	Free      int
	Base, Max time.Duration
	Now       func() time.Time

	mu    sync.Mutex
	state map[string]*lockState
}

type lockState struct {
	failures int
	until    time.Time
}

func newLockout(free int, base, max time.Duration, now func() time.Time) *lockout {
	return &lockout{Free: free, Base: base, Max: max, Now: now, state: map[string]*lockState{}}
}

// Locked reports whether any of keys is locked and for how long.
func (l *lockout) Locked(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	var wait time.Duration
	for _, k := range keys {
		if st, ok := l.state[k]; ok && now.Before(st.until) && st.until.Sub(now) > wait {
			wait = st.until.Sub(now)
		}
	}
	return wait > 0, wait
}

// Fail records a failure for each key.
func (l *lockout) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	if len(l.state) > 100000 { // bound memory: forget unlocked keys
		for k, st := range l.state {
			if now.After(st.until) {
				delete(l.state, k)
			}
		}
	}
	for _, k := range keys {
		st, ok := l.state[k]
		if !ok {
			st = &lockState{}
			l.state[k] = st
		}
		st.failures++
		if over := st.failures - l.Free; over > 0 {
			d := l.Base
			for i := 1; i < over && d < l.Max; i++ {
				d *= 2
			}
			st.until = now.Add(min(d, l.Max))
		}
	}
}

// Clear forgets a key's failures (after a success).
func (l *lockout) Clear(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.state, key)
}

// mfaLocked says whether second-factor attempts for subject from r's
// address are locked, and for how long.
func (s *Service) mfaLocked(subject string, r *http.Request) (bool, time.Duration) {
	a, wa := s.acctLock.Locked(subject)
	b, wb := s.ipLock.Locked(clientIP(r))
	return a || b, max(wa, wb)
}

// mfaFailed counts a wrong second factor.
func (s *Service) mfaFailed(subject string, r *http.Request) {
	s.acctLock.Fail(subject)
	s.ipLock.Fail(clientIP(r))
}

// mfaPassed clears the account's failures.
func (s *Service) mfaPassed(subject string) { s.acctLock.Clear(subject) }
