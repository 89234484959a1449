package federationtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// GitHubEmail is one entry of GET /user/emails.
type GitHubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// FakeGitHub serves GitHub's OAuth web flow (an authorize endpoint that
// approves at once and redirects back, the token endpoint with PKCE) and
// the REST API calls gatehouse makes: /user, /user/emails, /user/orgs.
type FakeGitHub struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu sync.Mutex
	// User, Emails and Orgs are what the API answers.
	UserID int64
	Login  string
	Name   string
	Emails []GitHubEmail
	Orgs   []string
	// Deny makes the authorize endpoint answer access_denied.
	Deny  bool
	codes map[string]string // code → PKCE challenge
	token string
}

// NewFakeGitHub starts one; it stops when the test ends.
func NewFakeGitHub(t testing.TB) *FakeGitHub {
	f := &FakeGitHub{ClientID: "gh-client", ClientSecret: "gh-secret", UserID: 4242, Login: "octo", Name: "Octo Cat",
		Emails: []GitHubEmail{{Email: "octo@example.org", Primary: true, Verified: true}}, codes: map[string]string{}}
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || q.Get("client_id") != f.ClientID || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		v := url.Values{"state": {q.Get("state")}}
		f.mu.Lock()
		if f.Deny {
			v.Set("error", "access_denied")
		} else {
			code := randomish(q.Get("state"))
			f.codes[code] = q.Get("code_challenge")
			v.Set("code", code)
		}
		f.mu.Unlock()
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		ch, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if !ok || r.PostForm.Get("client_id") != f.ClientID || r.PostForm.Get("client_secret") != f.ClientSecret ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != ch {
			json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return
		}
		f.mu.Lock()
		f.token = "gho_" + randomish(r.PostForm.Get("code"))
		tok := f.token
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email"})
	})
	api := func(path string, body func() any) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			ok := f.token != "" && r.Header.Get("Authorization") == "Bearer "+f.token
			f.mu.Unlock()
			if !ok {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			f.mu.Lock()
			defer f.mu.Unlock()
			json.NewEncoder(w).Encode(body())
		})
	}
	api("/user", func() any {
		return map[string]any{"id": f.UserID, "login": f.Login, "name": f.Name, "avatar_url": f.URL + "/avatars/" + f.Login}
	})
	api("/user/emails", func() any { return f.Emails })
	api("/user/orgs", func() any {
		out := []map[string]string{}
		for _, o := range f.Orgs {
			out = append(out, map[string]string{"login": o})
		}
		return out
	})
	return f
}

// Set changes the fake's answers under its lock.
func (f *FakeGitHub) Set(fn func(f *FakeGitHub)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func randomish(seed string) string {
	sum := sha256.Sum256([]byte(seed + "\x00gatehouse-fake"))
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(sum[:18]), "=")
}
