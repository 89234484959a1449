package conformance

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// startDev runs `gatehouse serve --dev` with its defaults (SQLite in the
// working directory) in dir, and returns the server and its banner.
// An empty issuer is the listen address itself.
func startDev(t *testing.T, dir, issuer string) (*server, string) {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if issuer == "" {
		issuer = "http://" + listen
	}
	return runDev(t, dir, issuer, listen, []string{"--issuer", issuer, "--listen", listen}, fmt.Sprintf("GATEHOUSE_ADMIN_LISTEN=127.0.0.1:%d", freePort(t)))
}

// runDev runs `gatehouse serve --dev` with args and env in dir until it
// prints its banner; issuer is where the test expects it, listen where it
// listens.
func runDev(t *testing.T, dir, issuer, listen string, args []string, env ...string) (*server, string) {
	t.Helper()
	s := &server{issuer: issuer, base: "http://" + listen, dbURL: "sqlite://" + dir + "/gatehouse-dev.db", logs: &syncBuffer{}}
	var stdout syncBuffer
	s.cmd = exec.Command(binary, append([]string{"serve", "--dev"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = &stdout, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() }
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(stdout.String(), "/oauth2/auth?") {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "/oauth2/auth?") {
		t.Fatalf("no authorize URL printed:\n%s\n%s", stdout.String(), s.logs.String())
	}
	return s, stdout.String()
}

var (
	printedURL = regexp.MustCompile(`(http://\S+/oauth2/auth\?\S+)`)
	curlCode   = regexp.MustCompile(`-d code='([^']+)'`)
	curlVerif  = regexp.MustCompile(`-d code_verifier=(\S+)`)
	demoLine   = regexp.MustCompile(`demo user:\s+(\S+) / (\S+)`)
	clientLine = regexp.MustCompile(`demo client:\s+(\S+) / (\S+)`)
)

// TestDevQuickstart is the README's first command: open the printed URL,
// sign in as the demo user, approve, and exchange the code as the demo
// client. It then restarts the server to show keys, users and sessions
// survive (nothing is regenerated).
func TestDevQuickstart(t *testing.T) {
	dir := t.TempDir()
	issuer, point := front(t) // the restart below keeps the issuer, on another port
	s, banner := startDev(t, dir, issuer)
	point(s.base)
	authURL := printedURL.FindStringSubmatch(banner)[1]
	demo := demoLine.FindStringSubmatch(banner)
	cl := clientLine.FindStringSubmatch(banner)
	if demo == nil || cl == nil {
		t.Fatalf("banner lacks the demo credentials:\n%s", banner)
	}
	br := newBrowser(t, s)
	p := br.follow(br.get(authURL))
	p = br.approve(br.login(p, user{email: demo[1], password: demo[2]}))
	// The demo client's redirect URI is the server's own development page.
	if p.status != 200 || !strings.HasPrefix(p.url, s.issuer+"/dev/callback?") {
		t.Fatalf("did not land on the callback page: %d %s", p.status, p.url)
	}
	cb, _ := url.Parse(p.url)
	if cb.Query().Get("iss") != s.issuer || cb.Query().Get("code") == "" {
		t.Fatalf("callback %v", cb.Query())
	}
	tok := redeemCallback(t, s, p, testClient{ID: cl[1], Secret: cl[2]})
	if tok["refresh_token"] == nil {
		t.Fatalf("exchange as the demo client: %v", tok)
	}
	keysBefore, _ := getJSON(t, s.issuer+"/.well-known/jwks.json")

	// Restart on the same directory: same keys, the session and the refresh token still work.
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s2, banner2 := startDev(t, dir, issuer)
	point(s2.base)
	if printedURL.FindString(banner2) == "" {
		t.Fatal("no URL after restart")
	}
	keysAfter, _ := getJSON(t, s2.issuer+"/.well-known/jwks.json")
	if fmt.Sprint(keysBefore) != fmt.Sprint(keysAfter) {
		t.Fatal("signing keys changed across a restart")
	}
	status, tok2, _ := s2.tokenRequest(t, testClient{ID: cl[1], Secret: cl[2]}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if status != 200 {
		t.Fatalf("refresh after restart: %d %v", status, tok2)
	}
	br.srv = s2
	p = br.follow(br.get(printedURL.FindStringSubmatch(banner2)[1] + "&prompt=none"))
	if p.status != http.StatusOK || !strings.HasPrefix(p.url, s2.issuer+"/dev/callback?code=") {
		t.Fatalf("browser session did not survive the restart: %d %s", p.status, p.url)
	}

	// Step 8: create an account from the login page, confirm it with the
	// link in /dev/mail (no SMTP server), sign in through the printed URL.
	me := user{email: "me-" + strings.ToLower(randString(6)) + "@example.test", password: "a long password of mine"}
	nb := newBrowser(t, s2)
	if login := nb.follow(nb.get(printedURL.FindStringSubmatch(banner2)[1])); !strings.Contains(login.body, `id="sign-up-link"`) {
		t.Fatalf("no \"Create an account\" under --dev:\n%s", login.body)
	}
	if p := nb.submit(findForm(t, nb.get(s2.issuer+"/account/signup"), "/account/signup"),
		url.Values{"email": {me.email}, "name": {"Me"}, "password": {me.password}, "password2": {me.password}}); !strings.Contains(p.body, `id="signup-sent"`) {
		t.Fatalf("sign-up: %d\n%s", p.status, p.body)
	}
	var link string
	for deadline := time.Now().Add(10 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		link = verifyLink.FindString(html.UnescapeString(nb.get(s2.issuer + "/dev/mail").body))
	}
	if link == "" {
		t.Fatal("no confirmation link in /dev/mail")
	}
	confirmAddress(t, nb, link, me.password)
	p = nb.approve(nb.login(nb.follow(nb.get(printedURL.FindStringSubmatch(banner2)[1])), me))
	claims := idTokenClaims(t, s2, cl[1], redeemCallback(t, s2, p, testClient{ID: cl[1], Secret: cl[2]})["id_token"].(string))
	if claims["email"] != me.email || claims["email_verified"] != true {
		t.Fatalf("the new account's ID token: %v", claims)
	}
}

// idTokenClaims verifies idt with the issuer's JWKS (go-oidc, as a
// relying party does) and returns its claims.
func idTokenClaims(t *testing.T, s *server, clientID, idt string) map[string]any {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(context.Background(), idt)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// redeemCallback exchanges the code on the /dev/callback page p with the
// curl command it shows, as c, and returns the token response.
func redeemCallback(t *testing.T, s *server, p page, c testClient) map[string]any {
	t.Helper()
	cb, _ := url.Parse(p.url)
	body := html.UnescapeString(p.body)
	code, verifier := curlCode.FindStringSubmatch(body), curlVerif.FindStringSubmatch(body)
	if code == nil || verifier == nil || code[1] != cb.Query().Get("code") {
		t.Fatalf("callback page lacks the curl command:\n%s", body)
	}
	status, tok, _ := s.tokenRequest(t, c, url.Values{"grant_type": {"authorization_code"}, "code": {code[1]},
		"redirect_uri": {s.issuer + "/dev/callback"}, "code_verifier": {verifier[1]}})
	if status != 200 || tok["id_token"] == nil {
		t.Fatalf("exchange as the demo client: %d %v", status, tok)
	}
	return tok
}

// TestDevPapercuts (issue 15): what a new user met running --dev. The
// issuer follows --listen; the admin API has a flag and a taken admin port
// does not stop a development server; the keys commands on a development
// database say to add --dev; the printed URL's code verifier survives a
// restart.
func TestDevPapercuts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	issuer := fmt.Sprintf("http://localhost:%d", port)
	s, banner := runDev(t, dir, issuer, fmt.Sprintf("127.0.0.1:%d", port), []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--admin-listen", busy.Addr().String()})
	if !strings.Contains(banner, "gatehouse is running at "+issuer) || !strings.Contains(printedURL.FindString(banner), issuer+"/oauth2/auth?") {
		t.Errorf("--listen alone: the banner does not point at %s:\n%s", issuer, banner)
	}
	if d, _ := getJSON(t, s.base+"/.well-known/openid-configuration"); d["issuer"] != issuer {
		t.Errorf("issuer %v, want %s", d["issuer"], issuer)
	}
	admin := regexp.MustCompile(`admin API:\s+(\S+)`).FindStringSubmatch(banner)
	if admin == nil || admin[1] == busy.Addr().String() {
		t.Fatalf("admin API with its port taken: %v\n%s", admin, banner)
	}
	if resp, err := http.Get("http://" + admin[1] + "/healthz"); err == nil {
		resp.Body.Close()
	} else {
		t.Errorf("admin API at %s: %v", admin[1], err)
	}
	// The keys commands name --dev for a development database.
	out := s.cliErr(t, "keys", "list")
	if !strings.Contains(out, "--dev") {
		t.Errorf("keys list on a development database without --dev: %s", out)
	}
	if out := s.cli(t, "", "keys", "list", "--dev"); !strings.Contains(out, "RS256") {
		t.Errorf("keys list --dev: %s", out)
	}
	// The verifier of the printed URL is kept with the demo client: after a
	// restart (here on another port, the same issuer) the printed URL has
	// the same code_challenge, so a code from before redeems.
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	listen2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, banner2 := runDev(t, dir, issuer, listen2, []string{"--issuer", issuer, "--listen", listen2}, fmt.Sprintf("GATEHOUSE_ADMIN_LISTEN=127.0.0.1:%d", freePort(t)))
	challenge := func(b string) string {
		u, _ := url.Parse(printedURL.FindString(b))
		return u.Query().Get("code_challenge")
	}
	if challenge(banner) == "" || challenge(banner) != challenge(banner2) {
		t.Errorf("code_challenge %q before a restart, %q after", challenge(banner), challenge(banner2))
	}
}
