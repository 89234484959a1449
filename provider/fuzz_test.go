package provider_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/apptest"
)

func validAuthorizeQuery() url.Values {
	return url.Values{"client_id": {apptest.ClientID}, "response_type": {"code"}, "scope": {"openid email"}, "redirect_uri": {apptest.RedirectURI},
		"state": {"state-1234567"}, "nonce": {"nonce-1234567"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
}

// checkLocation fails unless a redirect stays on the server or goes to the
// registered redirect URI: never an open redirect.
func checkLocation(t *testing.T, loc string) {
	t.Helper()
	if loc == "" {
		return
	}
	switch {
	case strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\"):
	case strings.HasPrefix(loc, apptest.RedirectURI+"?"), strings.HasPrefix(loc, apptest.RedirectURI+"#"):
	default:
		t.Fatalf("redirect to an unverified location %q", loc)
	}
}

// FuzzAuthorizeRequest throws arbitrary query strings and form bodies at the
// authorization endpoint: no panic, no 5xx, no open redirect.
func FuzzAuthorizeRequest(f *testing.F) {
	v := validAuthorizeQuery()
	f.Add(v.Encode(), false)
	f.Add(v.Encode(), true)
	for _, mut := range []func(url.Values){
		func(q url.Values) { q.Set("redirect_uri", "javascript:alert(1)") },
		func(q url.Values) { q.Set("redirect_uri", apptest.RedirectURI+"/evil") },
		func(q url.Values) { q.Set("prompt", "none") },
		func(q url.Values) { q.Set("prompt", "none login") },
		func(q url.Values) { q.Set("max_age", "-5") },
		func(q url.Values) { q.Set("max_age", "99999999999999999999") },
		func(q url.Values) { q.Set("id_token_hint", "a.b.c") },
		func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") },
		func(q url.Values) { q.Set("response_mode", "form_post") },
		func(q url.Values) { q.Set("response_mode", "fragment") },
		func(q url.Values) { q.Set("response_type", "token id_token") },
		func(q url.Values) { q.Del("code_challenge") },
		func(q url.Values) { q.Set("code_challenge_method", "plain") },
		func(q url.Values) { q.Set("scope", "openid \x00 admin") },
		func(q url.Values) { q.Set("state", "") },
		func(q url.Values) { q.Set("client_id", "nope") },
		func(q url.Values) { q["scope"] = []string{"openid", "email"} },
	} {
		q := validAuthorizeQuery()
		mut(q)
		f.Add(q.Encode(), false)
	}
	f.Add("%zz&&==;;", false)
	f.Add(strings.Repeat("a=b&", 500), true)
	srv := apptest.New(f)
	f.Fuzz(func(t *testing.T, query string, post bool) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/oauth2/auth", RawQuery: query}, Header: http.Header{}, Host: "127.0.0.1:8080"}
		if post {
			req = &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/oauth2/auth"}, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body: http.NoBody, Host: "127.0.0.1:8080"}
			req.Body = nopCloser(query)
			req.ContentLength = int64(len(query))
		}
		w := srv.Do(req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q:\n%s", w.Code, query, w.Body.String())
		}
		checkLocation(t, w.Header().Get("Location"))
	})
}

// FuzzTokenRequest: arbitrary bodies and Authorization headers at the token
// endpoint get a JSON error, never a 5xx.
func FuzzTokenRequest(f *testing.F) {
	basic := "Basic " + b64(apptest.ClientID+":"+apptest.ClientSecret)
	for _, body := range []string{
		"grant_type=client_credentials", "grant_type=authorization_code&code=abc&redirect_uri=" + url.QueryEscape(apptest.RedirectURI) + "&code_verifier=x",
		"grant_type=refresh_token&refresh_token=ory_rt_abc.def", "grant_type=password&username=a&password=b",
		"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c", "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c&grant_type=client_credentials",
		"", "%%%", "grant_type=client_credentials&scope=" + strings.Repeat("x ", 300),
	} {
		f.Add(body, basic)
		f.Add(body, "")
	}
	f.Add("grant_type=client_credentials", "Basic !!!")
	f.Add("grant_type=client_credentials", "Bearer abc")
	f.Add("grant_type=client_credentials&client_id=test-client&client_secret=x", "")
	srv := apptest.New(f)
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/oauth2/token"}, Host: "127.0.0.1:8080",
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: nopCloser(body), ContentLength: int64(len(body))}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := srv.Do(req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q / %q:\n%s", w.Code, body, auth, w.Body.String())
		}
		if w.Code != 200 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("error without JSON: %d %q", w.Code, w.Header().Get("Content-Type"))
		}
	})
}

// FuzzLogoutRequest: the end-session endpoint never redirects to an
// unregistered URI and never fails with a 5xx.
func FuzzLogoutRequest(f *testing.F) {
	f.Add(url.Values{"post_logout_redirect_uri": {"https://evil.example/"}, "state": {"x"}}.Encode())
	f.Add(url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."}, "post_logout_redirect_uri": {apptest.RedirectURI + "/logout"}}.Encode())
	f.Add("id_token_hint=a.b.c&state=%22%3C")
	f.Add("")
	srv := apptest.New(f)
	f.Fuzz(func(t *testing.T, query string) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/oauth2/logout", RawQuery: query}, Header: http.Header{}, Host: "127.0.0.1:8080"}
		w := srv.Do(req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, query)
		}
		if loc := w.Header().Get("Location"); loc != "" {
			t.Fatalf("logout without a valid id_token_hint redirected to %q", loc)
		}
	})
}

// FuzzRegistration: arbitrary registration documents get 201 or an RFC 7591
// error, never a 5xx.
func FuzzRegistration(f *testing.F) {
	for _, seed := range []string{
		`{"redirect_uris":["https://rp.example.test/cb"]}`,
		`{"redirect_uris":["https://rp.example.test/cb#x"],"client_name":"x"}`,
		`{"redirect_uris":["com.example:/cb"],"token_endpoint_auth_method":"none"}`,
		`{"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]},"redirect_uris":["https://a.example/cb"]}`,
		`{"grant_types":"authorization_code"}`, `[]`, `null`, `{"scope":"\u0000"}`, `{"contacts":[1,2]}`,
	} {
		f.Add(seed)
	}
	srv := apptest.New(f)
	var n atomic.Uint32
	f.Fuzz(func(t *testing.T, body string) {
		// Each document from an address of its own: the per-address limit
		// would otherwise answer most of them before they are parsed.
		i := n.Add(1)
		req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/oauth2/register"}, Host: "127.0.0.1:8080",
			RemoteAddr: fmt.Sprintf("10.%d.%d.%d:40000", byte(i>>16), byte(i>>8), byte(i)),
			Header:     http.Header{"Content-Type": {"application/json"}}, Body: nopCloser(body), ContentLength: int64(len(body))}
		w := srv.Do(req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q:\n%s", w.Code, body, w.Body.String())
		}
		if w.Code != http.StatusCreated && w.Code != http.StatusBadRequest && w.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
