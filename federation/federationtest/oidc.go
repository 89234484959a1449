// Package federationtest has fakes of upstream identity providers for
// tests: an OpenID provider and GitHub.
package federationtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// FakeOP is a minimal OpenID provider: discovery, JWKS and a token
// endpoint that checks the PKCE verifier and returns an ID token built
// from the claims the test asks for.
type FakeOP struct {
	*httptest.Server
	key, other *ecdsa.PrivateKey
	mu         sync.Mutex
	// challenge per code, and the claims to put in the next ID token.
	challenges map[string]string
	// Mutate edits the claims of the next ID tokens.
	Mutate func(claims map[string]any)
	// SignOther signs with a key that is not in the JWKS.
	SignOther bool
	delay     time.Duration
}

// NewFakeOP starts one for a client id; it stops when the test ends.
func NewFakeOP(t testing.TB, clientID string) *FakeOP {
	f := &FakeOP{challenges: map[string]string{}}
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.other, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		// Approves at once, as a user who is signed in upstream.
		back, err := url.Parse(r.URL.Query().Get("redirect_uri"))
		if err != nil || r.URL.Query().Get("client_id") != clientID {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		cb := f.Authorize(t, r.URL.String())
		back.RawQuery = cb.URL.RawQuery
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		delay := f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		r.ParseForm()
		f.mu.Lock()
		ch, ok := f.challenges[r.PostForm.Get("code")]
		delete(f.challenges, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != ch {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		claims := map[string]any{"iss": f.URL, "aud": clientID, "sub": "upstream-42", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
			"nonce": r.PostForm.Get("code")[len("code-"):], "email": "ada@example.org", "email_verified": true, "name": "Ada", "amr": []string{"pwd", "otp"}}
		f.mu.Lock()
		mutate, other := f.Mutate, f.SignOther
		f.mu.Unlock()
		if mutate != nil {
			mutate(claims)
		}
		key := f.key
		if other {
			key = f.other
		}
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
		idt, _ := jwt.Signed(sig).Claims(claims).Serialize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
	})
	return f
}

// Authorize plays the upstream's authorization endpoint: it records the
// PKCE challenge under a code that carries the nonce, and returns the
// callback request gatehouse would get.
func (f *FakeOP) Authorize(t testing.TB, loginURL string) *http.Request {
	u, err := url.Parse(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE S256, nonce or state: %s", loginURL)
	}
	code := "code-" + q.Get("nonce")
	f.mu.Lock()
	f.challenges[code] = q.Get("code_challenge")
	f.mu.Unlock()
	return httptest.NewRequest(http.MethodGet, "/cb?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), nil)
}

// Delay makes the token endpoint answer after d.
func (f *FakeOP) Delay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Set changes the fake's behaviour (Mutate, SignOther) under its lock.
func (f *FakeOP) Set(mutate func(claims map[string]any), signOther bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Mutate, f.SignOther = mutate, signOther
}
