package consent_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/apptest"
)

// flowFixture starts a real flow and returns its id, the CSRF cookie and the
// page's CSRF token, so seeds reach past the CSRF check.
func flowFixture(t testing.TB, srv *apptest.Server) (flow, cookie, token string) {
	q := url.Values{"client_id": {apptest.ClientID}, "response_type": {"code"}, "scope": {"openid email"}, "redirect_uri": {apptest.RedirectURI},
		"state": {"state-1234567"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	w := srv.Do(httptest.NewRequest(http.MethodGet, "/oauth2/auth?"+q.Encode(), nil))
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Query().Get("flow") == "" {
		t.Fatalf("no flow: %d %q", w.Code, w.Header().Get("Location"))
	}
	flow = loc.Query().Get("flow")
	w = srv.Do(httptest.NewRequest(http.MethodGet, "/login?flow="+url.QueryEscape(flow), nil))
	for _, c := range w.Result().Cookies() {
		if c.Name == "gatehouse_csrf" {
			cookie = c.Value
		}
	}
	i := strings.Index(w.Body.String(), `name="csrf_token" value="`)
	if i < 0 || cookie == "" {
		t.Fatalf("no CSRF token on the login page")
	}
	rest := w.Body.String()[i+len(`name="csrf_token" value="`):]
	return flow, cookie, rest[:strings.IndexByte(rest, '"')]
}

func postForm(srv *apptest.Server, path, body, cookies string) *httptest.ResponseRecorder {
	req := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: path}, Host: "127.0.0.1:8080",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	return srv.Do(req)
}

// FuzzLoginForm posts arbitrary login forms and cookies: no panic, no 5xx,
// and no session unless the right password was given with a valid token.
func FuzzLoginForm(f *testing.F) {
	srv := apptest.New(f)
	flow, cookie, token := flowFixture(f, srv)
	good := url.Values{"flow": {flow}, "csrf_token": {token}, "email": {apptest.UserEmail}, "password": {"wrong-password"}}
	f.Add(good.Encode(), "gatehouse_csrf="+cookie)
	f.Add(good.Encode(), "")
	f.Add("flow=x&csrf_token=y&email=&password=", "gatehouse_csrf="+cookie)
	f.Add("%%%&&&", "gatehouse_csrf=;;;")
	f.Add(url.Values{"flow": {flow}, "csrf_token": {token}, "email": {strings.Repeat("a", 5000) + "@x"}, "password": {strings.Repeat("p", 2000)}}.Encode(), "gatehouse_csrf="+cookie)
	f.Fuzz(func(t *testing.T, body, cookies string) {
		w := postForm(srv, "/login", body, cookies)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q / %q", w.Code, body, cookies)
		}
		form, _ := url.ParseQuery(body)
		rightPassword := form.Get("password") == apptest.UserPassword
		for _, c := range w.Result().Cookies() {
			if c.Name == "gatehouse_session" && c.MaxAge >= 0 && !rightPassword {
				t.Fatalf("a session was created without the password by %q", body)
			}
		}
	})
}

// FuzzConsentForm posts arbitrary consent forms: no panic, no 5xx, no
// redirect off the server.
func FuzzConsentForm(f *testing.F) {
	srv := apptest.New(f)
	flow, cookie, token := flowFixture(f, srv)
	f.Add(url.Values{"flow": {flow}, "csrf_token": {token}, "action": {"allow"}, "remember": {"yes"}}.Encode(), "gatehouse_csrf="+cookie)
	f.Add(url.Values{"flow": {flow}, "csrf_token": {token}, "action": {"deny"}}.Encode(), "gatehouse_csrf="+cookie+"; gatehouse_session=abc")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, body, cookies string) {
		w := postForm(srv, "/consent", body, cookies)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q / %q", w.Code, body, cookies)
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") {
			t.Fatalf("consent redirected off the server: %q", loc)
		}
	})
}
