package consent

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	testRPID   = "login.example.test"
	testOrigin = "https://login.example.test"
)

func passkeyCount(t *testing.T, st storage.CredentialStore) int {
	t.Helper()
	list, err := st.ListCredentials(context.Background(), "alice", storage.CredentialWebAuthn)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// registerPasskey runs a registration ceremony with a.
func registerPasskey(t testing.TB, s *testEngine, a *softAuthenticator) (storage.Credential, error) {
	t.Helper()
	opts, state, err := s.passkeys.BeginRegistration(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return s.passkeys.FinishRegistration(context.Background(), "alice", "Laptop", state, a.register(opts))
}

func TestPasskeyRegistration(t *testing.T) {
	tests := []struct {
		name         string
		rpID, origin string
		corrupt      func([]byte) []byte
		ok           bool
	}{
		{"a platform authenticator", testRPID, testOrigin, nil, true},
		{"wrong RP ID", "evil.example.test", testOrigin, nil, false},
		{"wrong origin", testRPID, "https://evil.example.test", nil, false},
		{"http origin", testRPID, "http://login.example.test", nil, false},
		{"malformed response", testRPID, testOrigin, func([]byte) []byte { return []byte(`{"id":"x"}`) }, false},
		{"empty response", testRPID, testOrigin, func([]byte) []byte { return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, _ := newTestService(t)
			a := newSoftAuthenticator(t, tt.rpID, tt.origin)
			opts, state, err := s.passkeys.BeginRegistration(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			resp := a.register(opts)
			if tt.corrupt != nil {
				resp = tt.corrupt(resp)
			}
			c, err := s.passkeys.FinishRegistration(context.Background(), "alice", "Laptop", state, resp)
			if tt.ok {
				if err != nil || c.Name != "Laptop" || passkeyCount(t, st) != 1 {
					t.Fatalf("registration: %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, authn.ErrAuthFailed) {
				t.Fatalf("want authn.ErrAuthFailed, got %v", err)
			}
			if n := passkeyCount(t, st); n != 0 {
				t.Errorf("%d passkeys stored after a refused registration", n)
			}
		})
	}
}

func TestPasskeyRegistrationReplay(t *testing.T) {
	s, st, _ := newTestService(t)
	a := newSoftAuthenticator(t, testRPID, testOrigin)
	opts, state, err := s.passkeys.BeginRegistration(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	resp := a.register(opts)
	if _, err := s.passkeys.FinishRegistration(context.Background(), "alice", "Laptop", state, resp); err != nil {
		t.Fatal(err)
	}
	// The same response against a new ceremony: the challenge differs.
	_, state2, err := s.passkeys.BeginRegistration(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.passkeys.FinishRegistration(context.Background(), "alice", "Again", state2, resp); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("replayed registration: %v", err)
	}
	if n := passkeyCount(t, st); n != 1 {
		t.Errorf("%d passkeys after a replay", n)
	}
}

// signIn runs a sign-in ceremony: subject "" is passwordless.
func signIn(t *testing.T, s *testEngine, subject string, respond func(opts []byte) []byte) (authn.Result, error) {
	t.Helper()
	step := s.steps["passkey"]
	p, err := step.Start(context.Background(), authn.Attempt{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	return step.Verify(context.Background(), authn.Attempt{Subject: subject, State: p.State}, authn.Input{Credential: respond(p.Options)})
}

func storedCounter(t *testing.T, st storage.CredentialStore) (int64, passkey.Meta) {
	t.Helper()
	list, err := st.ListCredentials(context.Background(), "alice", storage.CredentialWebAuthn)
	if err != nil || len(list) != 1 {
		t.Fatalf("passkeys: %v %v", list, err)
	}
	var m passkey.Meta
	if err := json.Unmarshal(list[0].Data, &m); err != nil {
		t.Fatal(err)
	}
	return list[0].Counter, m
}

func TestPasskeySignIn(t *testing.T) {
	s, st, _ := newTestService(t)
	a := newSoftAuthenticator(t, testRPID, testOrigin)
	if _, err := registerPasskey(t, s, a); err != nil {
		t.Fatal(err)
	}

	// Passwordless: a discoverable credential with user verification.
	res, err := signIn(t, s, "", a.assert)
	if err != nil || res.Subject != "alice" || !slices.Equal(res.AMR, []string{"hwk", "user"}) || policy(res.AMR) != "urn:gatehouse:acr:2fa" {
		t.Fatalf("passwordless sign-in: %+v, %v", res, err)
	}
	if n, _ := storedCounter(t, st); n != 1 {
		t.Errorf("stored counter %d, want 1", n)
	}

	// As a second factor, verification is not required.
	a.uv = false
	res, err = signIn(t, s, "alice", a.assert)
	if err != nil || !slices.Equal(res.AMR, []string{"hwk"}) {
		t.Fatalf("second factor: %+v, %v", res, err)
	}
	// Passwordless without user verification is refused.
	if _, err := signIn(t, s, "", a.assert); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("passwordless without UV: %v", err)
	}
	a.uv = true
	before, _ := storedCounter(t, st)

	refused := []struct {
		name    string
		subject string
		respond func([]byte) []byte
	}{
		{"replayed challenge", "", func([]byte) []byte {
			a.counter++
			return a.assertWith("b2xkLWNoYWxsZW5nZS1vbGQtY2hhbGxlbmdlLW9sZA", false)
		}},
		{"bad signature", "", func(o []byte) []byte { a.counter++; return a.assertWith(challengeOf(t, o), true) }},
		{"wrong RP ID", "", func(o []byte) []byte {
			b := *a
			b.rpID = "evil.example.test"
			b.counter = a.counter + 1
			return b.assertWith(challengeOf(t, o), false)
		}},
		{"wrong origin", "", func(o []byte) []byte {
			b := *a
			b.origin = "https://evil.example.test"
			b.counter = a.counter + 1
			return b.assertWith(challengeOf(t, o), false)
		}},
		{"another authenticator", "", newSoftAuthenticator(t, testRPID, testOrigin).assert},
		{"second factor of a user without passkeys", "alice", func(o []byte) []byte {
			b := newSoftAuthenticator(t, testRPID, testOrigin)
			b.user = []byte("alice")
			return b.assert(o)
		}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := signIn(t, s, tt.subject, tt.respond); !errors.Is(err, authn.ErrAuthFailed) {
				t.Fatalf("want authn.ErrAuthFailed, got %v", err)
			}
			if n, _ := storedCounter(t, st); n != before {
				t.Errorf("counter moved to %d after a refused sign-in", n)
			}
		})
	}

	// The same signed response twice: the ceremony state is single-use in
	// the pages; here the counter does not advance, so it is refused too.
	step := s.steps["passkey"]
	p, _ := step.Start(context.Background(), authn.Attempt{})
	resp := a.assert(p.Options)
	if _, err := step.Verify(context.Background(), authn.Attempt{State: p.State}, authn.Input{Credential: resp}); err != nil {
		t.Fatal(err)
	}
	if _, err := step.Verify(context.Background(), authn.Attempt{State: p.State}, authn.Input{Credential: resp}); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("the same assertion twice: %v", err)
	}

	// Counter regression: a clone. Refused, flagged, counter kept.
	before, _ = storedCounter(t, st)
	a.counter = 1
	if _, err := signIn(t, s, "", func(o []byte) []byte { return a.assertWith(challengeOf(t, o), false) }); !errors.Is(err, authn.ErrAuthFailed) {
		t.Fatalf("counter regression: %v", err)
	}
	if n, m := storedCounter(t, st); n != before || !m.CloneWarning {
		t.Errorf("after a counter regression: counter %d (was %d), clone warning %v", n, before, m.CloneWarning)
	}
}

func TestPasskeyAMR(t *testing.T) {
	s, _, _ := newTestService(t)
	a := newSoftAuthenticator(t, testRPID, testOrigin)
	a.backupEligible = true
	if _, err := registerPasskey(t, s, a); err != nil {
		t.Fatal(err)
	}
	res, err := signIn(t, s, "", a.assert)
	if err != nil || !slices.Equal(res.AMR, []string{"swk", "user"}) {
		t.Fatalf("synced passkey: %+v, %v", res, err)
	}
}

// FuzzPasskeyAssertion feeds arbitrary browser responses to a passwordless
// sign-in: never a panic, never a server error, never a sign-in.
func FuzzPasskeyAssertion(f *testing.F) {
	s, _, _ := newTestService(f)
	a := newSoftAuthenticator(f, testRPID, testOrigin)
	if _, err := registerPasskey(f, s, a); err != nil {
		f.Fatal(err)
	}
	step := s.steps["passkey"]
	p, err := step.Start(context.Background(), authn.Attempt{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.assert(p.Options))
	f.Add([]byte(`{"id":"","rawId":"","type":"public-key","response":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, resp []byte) {
		p, err := step.Start(context.Background(), authn.Attempt{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := step.Verify(context.Background(), authn.Attempt{State: p.State}, authn.Input{Credential: resp})
		if !errors.Is(err, authn.ErrAuthFailed) {
			t.Fatalf("Verify = %+v, %v; want ErrAuthFailed", res, err)
		}
	})
}

// TestPasskeyLoginCeremonySingleUse: the challenge of the login page is
// used once — a failed attempt burns it, so the right answer to the same
// challenge is refused afterwards, and no session is made; a fresh page
// gives a fresh challenge that works.
func TestPasskeyLoginCeremonySingleUse(t *testing.T) {
	s, _, _ := newTestService(t)
	a := newSoftAuthenticator(t, testRPID, testOrigin)
	if _, err := registerPasskey(t, s, a); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	const csrfCookie = "csrf-cookie-value-0123456789abcdef0123"
	dec, err := s.newFlow(context.Background(), StateLogin, flowData{Request: interaction.AuthorizeRequest{MaxAge: -1}, Return: PathAccount})
	if err != nil {
		t.Fatal(err)
	}
	flow := strings.TrimPrefix(dec.RedirectTo, PathLogin+"?flow=")
	page := func() (ceremony, options string) {
		req := httptest.NewRequest(http.MethodGet, dec.RedirectTo, nil)
		req.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: csrfCookie})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		body := w.Body.String()
		cer := regexp.MustCompile(`name="ceremony" value="([^"]+)"`).FindStringSubmatch(body)
		opt := regexp.MustCompile(`data-options="([^"]+)"`).FindStringSubmatch(body)
		if cer == nil || opt == nil {
			t.Fatalf("no passkey ceremony on the login page:\n%s", body)
		}
		return cer[1], html.UnescapeString(opt[1])
	}
	post := func(ceremony string, credential []byte) *httptest.ResponseRecorder {
		form := url.Values{"flow": {flow}, "csrf_token": {s.csrfFor(csrfCookie, flow)}, "method": {"passkey"}, "ceremony": {ceremony}, "credential": {string(credential)}}
		req := httptest.NewRequest(http.MethodPost, PathLogin, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: csrfCookie})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	cer, opts := page()
	good := a.assert([]byte(opts))
	bad := a.assertWith(challengeOf(t, []byte(opts)), true)
	if w := post(cer, bad); w.Code != 200 || !strings.Contains(w.Body.String(), "could not sign you in") {
		t.Fatalf("bad signature: %d", w.Code)
	}
	w := post(cer, good)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "has expired") {
		t.Fatalf("the right answer to a used challenge: %d %s", w.Code, w.Header().Get("Location"))
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "gatehouse_session" {
			t.Fatal("a used challenge made a session")
		}
	}
	cer, opts = page()
	if w := post(cer, a.assert([]byte(opts))); w.Code != http.StatusSeeOther || w.Header().Get("Location") != PathAccount {
		t.Fatalf("a fresh challenge: %d %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
}

// csrfFor is the CSRF token a browser with this CSRF cookie gets for a
// purpose.
func (s *engine) csrfFor(cookie, purpose string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: cookie})
	return s.web.CSRFToken(httptest.NewRecorder(), r, purpose)
}
