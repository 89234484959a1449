package conformance

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var iframeSrc = regexp.MustCompile(`<iframe class="fc" src="([^"]*)"`)

// frontRP is two relying parties' browser-facing endpoints on one
// loopback server: their redirect URI, their front-channel logout pages
// (which record the query each load carries) and their post-logout page.
type frontRP struct {
	base  string
	mu    sync.Mutex
	loads map[string][]url.Values // path → queries of the frames loaded
}

func startFrontRP(t *testing.T) *frontRP {
	t.Helper()
	f := &frontRP{loads: map[string][]url.Values{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/cb":
			_, _ = w.Write([]byte(`<h1 id="rp-callback">callback</h1>`))
		case "/logged-out":
			_, _ = w.Write([]byte(`<h1 id="rp-logged-out">back at the app</h1>`))
		case "/fc-a", "/fc-b":
			f.mu.Lock()
			f.loads[r.URL.Path] = append(f.loads[r.URL.Path], r.URL.Query())
			f.mu.Unlock()
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(`<p>signed out of the app</p>`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	f.base = srv.URL
	return f
}

// takeLoads returns the loads recorded for path since the last call.
func (f *frontRP) takeLoads(path string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.loads[path]
	delete(f.loads, path)
	return got
}

// TestFrontchannelLogout (issue 18, part 3): two clients signed in through
// one Chromium session; RP-initiated logout from one loads each client's
// frontchannel_logout_uri in a frame of the signed-out page (iss and sid
// for the client that asked for them), then continues to the registered
// post_logout_redirect_uri; the account page's sign-out frames them too.
// The page's CSP frames exactly those URIs.
func TestFrontchannelLogout(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	rpSrv := startFrontRP(t)
	s := startServer(t, backends(t)[0].newURL(t))
	a := s.createClient(t, "--dev", "--name", "App A", "--redirect-uri", rpSrv.base+"/cb", "--post-logout-redirect-uri", rpSrv.base+"/logged-out",
		"--frontchannel-logout-uri", rpSrv.base+"/fc-a", "--frontchannel-logout-session-required")
	b := s.createClient(t, "--dev", "--name", "App B", "--redirect-uri", rpSrv.base+"/cb", "--frontchannel-logout-uri", rpSrv.base+"/fc-b")
	u := s.createUser(t)
	rpA, rpB := newRP(t, s, a, rpSrv.base+"/cb"), newRP(t, s, b, rpSrv.base+"/cb")
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser: %s: %v\nserver log:\n%s", step, err, s.logs.String())
		}
	}
	// signIn runs the code flow in Chromium (signing in when asked,
	// allowing when asked) and redeems the code.
	signIn := func(step string, r *rp) tokens {
		t.Helper()
		req := r.newRequest()
		fail(step, chromedp.Do(ctx, chromedp.Navigate(req.url), chromedp.WaitVisible(`#email, button[value=allow], #rp-callback`)))
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#email") !== null`)); ok {
			fail(step+": sign in", chromedp.Do(ctx, chromedp.SendKeys(`#email`, u.email), chromedp.SendKeys(`#password`, u.password),
				chromedp.Click(`#sign-in`), chromedp.WaitVisible(`button[value=allow], #rp-callback`)))
		}
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("button[value=allow]") !== null`)); ok {
			fail(step+": allow", chromedp.Do(ctx, chromedp.Click(`button[value=allow]`), chromedp.WaitVisible(`#rp-callback`)))
		}
		loc, err := chromedp.Run(ctx, chromedp.Location())
		fail(step+": callback", err)
		cb, _ := url.Parse(loc)
		return r.exchange(req, cb.Query())
	}
	tkA := signIn("sign in to A", rpA)
	tkB := signIn("sign in to B", rpB)
	sid, _ := tkA.claims["sid"].(string)
	if sid == "" || tkB.claims["sid"] != sid {
		t.Fatalf("one session: sid %v / %v", tkA.claims["sid"], tkB.claims["sid"])
	}

	// RP-initiated logout from A: both frames load, then the browser
	// continues to A's registered URI with the state.
	fail("RP-initiated logout", chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/oauth2/logout?"+url.Values{"id_token_hint": {tkA.raw}, "post_logout_redirect_uri": {rpSrv.base + "/logged-out"}, "state": {"st 1"}}.Encode()),
		chromedp.WaitVisible(`#rp-logged-out`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	fail("location", err)
	if loc != rpSrv.base+"/logged-out?state=st+1" {
		t.Errorf("continued to %s", loc)
	}
	if got := rpSrv.takeLoads("/fc-a"); len(got) != 1 || got[0].Get("iss") != s.issuer || got[0].Get("sid") != sid || len(got[0]) != 2 {
		t.Errorf("A's frame loads %v, want one with iss %s and sid %s", got, s.issuer, sid)
	}
	if got := rpSrv.takeLoads("/fc-b"); len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("B's frame loads %v, want one without parameters", got)
	}

	// The account page's "sign out of this browser" frames the session's
	// clients too.
	tkA = signIn("sign in again", rpA)
	fail("account sign-out", chromedp.Do(ctx, chromedp.Navigate(s.issuer+"/account"), chromedp.WaitVisible(`#sign-out`),
		chromedp.Click(`#sign-out`), chromedp.WaitVisible(`#signed-out`)))
	deadline := time.Now().Add(10 * time.Second)
	var got []url.Values
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		got = rpSrv.takeLoads("/fc-a")
	}
	if len(got) != 1 || got[0].Get("sid") != tkA.claims["sid"] {
		t.Errorf("A's frame loads after the account sign-out %v, want sid %v", got, tkA.claims["sid"])
	}
	if got := rpSrv.takeLoads("/fc-b"); len(got) != 0 {
		t.Errorf("B, which this session never signed in to, was framed: %v", got)
	}
}

// TestFrontchannelLogoutPage: the signed-out page's frames and CSP as a
// plain user agent sees them: one iframe per front-channel client of the
// session, a frame-src naming exactly their URIs, no frame for a client
// without one, and a redirect kept for when there is nothing to frame.
func TestFrontchannelLogoutPage(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	a := s.createClient(t, "--name", "App A", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout,
		"--frontchannel-logout-uri", "https://a.example.test/fc;x?tenant=1", "--frontchannel-logout-session-required")
	b := s.createClient(t, "--name", "App B", "--redirect-uri", rpRedirect, "--frontchannel-logout-uri", "https://b.example.test/fc")
	plain := s.createClient(t, "--name", "App C", "--redirect-uri", rpRedirect, "--post-logout-redirect-uri", rpPostLogout)
	u := s.createUser(t)
	envA := &env{srv: s, user: u, client: a, rp: newRP(t, s, a, rpRedirect)}
	envB := &env{srv: s, user: u, client: b, rp: newRP(t, s, b, rpRedirect)}
	envC := &env{srv: s, user: u, client: plain, rp: newRP(t, s, plain, rpRedirect)}

	br := newBrowser(t, s)
	_, tkA := envA.fullLogin(t, br)
	envB.fullLogin(t, br)
	envC.fullLogin(t, br)
	sid := tkA.claims["sid"].(string)
	p := br.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tkA.raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"s"}}.Encode())
	if p.status != http.StatusOK {
		t.Fatalf("logout with frames to load: %d %q, want the page", p.status, p.location)
	}
	frameA := "https://a.example.test/fc;x?" + url.Values{"iss": {s.issuer}, "sid": {sid}, "tenant": {"1"}}.Encode()
	var srcs []string
	for _, m := range iframeSrc.FindAllStringSubmatch(p.body, -1) {
		srcs = append(srcs, html.UnescapeString(m[1]))
	}
	slices.Sort(srcs)
	if want := []string{frameA, "https://b.example.test/fc"}; !slices.Equal(srcs, want) {
		t.Errorf("frames %q, want %q", srcs, want)
	}
	csp := p.header.Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "; frame-src https://a.example.test/fc%3Bx https://b.example.test/fc") && !strings.HasSuffix(csp, "; frame-src https://b.example.test/fc https://a.example.test/fc%3Bx") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(p.body, `href="`+rpPostLogout+`?state=s"`) {
		t.Errorf("no way on to the post-logout URI:\n%s", p.body)
	}

	// A session whose clients registered no front-channel URI: a plain
	// redirect, and a page without frame-src.
	br2 := newBrowser(t, s)
	_, tkC := envC.fullLogin(t, br2)
	p = br2.get(s.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {tkC.raw}, "post_logout_redirect_uri": {rpPostLogout}}.Encode())
	if p.status != http.StatusSeeOther || p.location != rpPostLogout {
		t.Fatalf("logout without frames: %d %q", p.status, p.location)
	}
	if strings.Contains(p.header.Get("Content-Security-Policy"), "frame-src") {
		t.Errorf("CSP %q", p.header.Get("Content-Security-Policy"))
	}
}
