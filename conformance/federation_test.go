package conformance

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/federation/federationtest"
)

// writeConfig writes a gatehouse config file and returns the environment
// entry that points the server at it.
func writeConfig(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return "GATEHOUSE_CONFIG=" + p
}

// across follows redirects that stay on any of the given servers (the
// browser going upstream and back) and returns the first page, or the
// first redirect anywhere else.
func (b *browser) across(p page, bases ...string) page {
	b.t.Helper()
	for i := 0; i < 20 && p.status >= 300 && p.status < 400; i++ {
		from, _ := url.Parse(p.url)
		loc, err := from.Parse(p.location)
		if err != nil {
			b.t.Fatal(err)
		}
		known := false
		for _, base := range bases {
			known = known || strings.HasPrefix(loc.String(), base+"/")
		}
		if !known {
			p.location = loc.String()
			return p
		}
		p = b.get(loc.String())
	}
	return p
}

// viaUpstream presses the "Continue with …" button of connector on the
// login page p and follows the browser through the upstream and back.
func (b *browser) viaUpstream(p page, connector string, bases ...string) page {
	b.t.Helper()
	f := findForm(b.t, p, "/login/federated")
	for _, form := range allForms(b.t, p, "/login/federated") {
		if form.fields.Get("connector") == connector {
			f = form
		}
	}
	return b.across(b.submit(f, nil), bases...)
}

// allForms lists every form whose action ends with suffix.
func allForms(t *testing.T, p page, suffix string) []form {
	var out []form
	rest := p
	for strings.Contains(rest.body, `action="`+suffix+`"`) {
		f := findForm(t, rest, suffix)
		out = append(out, f)
		i := strings.Index(rest.body, `action="`+suffix+`"`)
		rest.body = rest.body[i+len(`action="`+suffix+`"`):]
		if j := strings.Index(rest.body, "<form"); j >= 0 {
			rest.body = rest.body[j:]
		} else {
			break
		}
	}
	return out
}

// TestFederationGitHub drives relying party → gatehouse → (fake) GitHub →
// gatehouse → relying party: sign-up, a linked sign-in, the attacks, and
// an email that belongs to an existing account (linked only after the
// user signs in to it).
func TestFederationGitHub(t *testing.T) {
	gh := federationtest.NewFakeGitHub(t)
	cfg := writeConfig(t, fmt.Sprintf(`
federation:
  connectors:
    - id: github
      type: github
      allow_signup: true
      config:
        client_id: %[1]s
        client_secret: env:GATEHOUSE_TEST_GITHUB_SECRET
        base_url: %[2]s
        api_url: %[2]s
    - id: github-acme
      type: github
      name: GitHub (Acme)
      allow_signup: true
      config:
        client_id: %[1]s
        client_secret: %[3]s
        base_url: %[2]s
        api_url: %[2]s
        allowed_orgs: [acme]
`, gh.ClientID, gh.URL, gh.ClientSecret))
	s := startServer(t, backends(t)[0].newURL(t), cfg, "GATEHOUSE_TEST_GITHUB_SECRET="+gh.ClientSecret)
	c := s.createClient(t, "--name", "Fed RP", "--redirect-uri", rpRedirect)
	e := &env{srv: s, client: c, rp: newRP(t, s, c, rpRedirect)}
	bases := []string{s.issuer, gh.URL}
	login := func(br *browser, connector string) (authRequest, page) {
		a := e.rp.newRequest()
		p := br.follow(br.get(a.url))
		if !strings.Contains(p.body, "Continue with GitHub") || !strings.Contains(p.body, "<svg") {
			t.Fatalf("no GitHub button with its icon on the login page:\n%s", p.body)
		}
		return a, br.viaUpstream(p, connector, bases...)
	}
	finish := func(br *browser, a authRequest, p page) tokens {
		t.Helper()
		if strings.Contains(p.body, `action="/consent"`) {
			p = br.approve(p)
		}
		return e.rp.exchange(a, br.callback(p, rpRedirect))
	}
	users := func() string { return s.cli(t, "", "users", "list") }

	// Sign-up: a new local account, the relying party sees its local sub.
	br := newBrowser(t, s)
	a, p := login(br, "github")
	tk := finish(br, a, p)
	if tk.idToken.Subject == "" || tk.idToken.Subject == "4242" || !has(strs(tk.claims["amr"]), "fed") {
		t.Fatalf("federated sign-up: sub %q amr %v", tk.idToken.Subject, tk.claims["amr"])
	}
	if !strings.Contains(users(), "octo@example.org") {
		t.Fatal("no local account for the GitHub user")
	}
	first := tk.idToken.Subject

	// Issue 13, item 8: the account has no password, yet a password login
	// for it costs one hash, like an unknown account's (counted on the
	// server, not timed), and fails with the uniform message.
	scraper := strings.TrimSpace(s.cli(t, "", "admin-keys", "create", "--name", "scrape", "--role", "metrics:read"))
	hashes := func() float64 {
		_, body := adminGetText(t, s, "/metrics", scraper)
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "gatehouse_password_hashes_total "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		t.Fatal("no gatehouse_password_hashes_total in /metrics")
		return 0
	}
	for _, email := range []string{"octo@example.org", "nobody-" + randString(6) + "@example.org"} {
		before := hashes()
		pb := newBrowser(t, s)
		p := pb.login(pb.follow(pb.get(e.rp.newRequest().url)), user{email: email, password: "some-password"})
		if !strings.Contains(p.body, "Incorrect email or password.") {
			t.Fatalf("password login for %s: %d", email, p.status)
		}
		if n := hashes() - before; n != 1 {
			t.Errorf("a password login for %s computed %v hashes, want 1 (as for any account)", email, n)
		}
	}

	// The next login finds the link: the same local subject.
	br2 := newBrowser(t, s)
	a, p = login(br2, "github")
	if tk := finish(br2, a, p); tk.idToken.Subject != first {
		t.Errorf("second login: sub %q, want %q", tk.idToken.Subject, first)
	}

	// Attacks on the callback: a state nobody issued, a replayed callback,
	// a callback opened in another browser.
	if p := br2.get(s.issuer + "/login/federated/callback?state=forged-state-value&code=x"); p.status != 400 || !strings.Contains(p.body, "expired") {
		t.Errorf("forged state: %d", p.status)
	}
	br3 := newBrowser(t, s)
	p = br3.follow(br3.get(e.rp.newRequest().url))
	up := br3.submit(findForm(t, p, "/login/federated"), nil) // 303 to GitHub
	back := br3.get(up.location)                              // GitHub approves: 302 to our callback
	if !strings.Contains(back.location, "/login/federated/callback") {
		t.Fatalf("fake GitHub sent the browser to %q", back.location)
	}
	if p := newBrowser(t, s).get(back.location); p.status != 400 {
		t.Errorf("callback in another browser: %d", p.status)
	}
	if p := br3.follow(br3.get(back.location)); p.status != 200 && p.status != 303 {
		t.Fatalf("callback: %d", p.status)
	}
	if p := br3.get(back.location); p.status != 400 || !strings.Contains(p.body, "expired") {
		t.Errorf("replayed callback: %d", p.status)
	}
	// Each of the three is audited (README: Login with …).
	stateFailures := 0
	for _, line := range strings.Split(s.cli(t, "", "audit", "list", "--limit", "200"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "login.failed" && strings.Contains(line, `"reason":"state"`) {
			n, _ := strconv.Atoi(f[2])
			stateFailures += n
		}
	}
	if stateFailures != 3 {
		t.Errorf("%d login.failed events with reason state, want 3 (forged, other browser, replayed)", stateFailures)
	}

	// The user says no at GitHub: a clear message, no session.
	gh.Set(func(f *federationtest.FakeGitHub) { f.Deny = true })
	br4 := newBrowser(t, s)
	if _, p := login(br4, "github"); !strings.Contains(p.body, "was cancelled") {
		t.Errorf("access_denied: %d\n%s", p.status, p.body)
	}
	gh.Set(func(f *federationtest.FakeGitHub) { f.Deny = false })

	// An unverified email: refused, nothing created.
	gh.Set(func(f *federationtest.FakeGitHub) {
		f.UserID, f.Login = 5001, "unverified"
		f.Emails = []federationtest.GitHubEmail{{Email: "unverified@example.org", Primary: true}}
	})
	if _, p := login(newBrowser(t, s), "github"); !strings.Contains(p.body, "no verified email") || strings.Contains(users(), "unverified@example.org") {
		t.Errorf("unverified email: %d\n%s", p.status, p.body)
	}

	// Not in the allowed organization: refused, nothing created.
	gh.Set(func(f *federationtest.FakeGitHub) {
		f.UserID, f.Login, f.Orgs = 5002, "outsider", []string{"other-org"}
		f.Emails = []federationtest.GitHubEmail{{Email: "outsider@example.org", Primary: true, Verified: true}}
	})
	if _, p := login(newBrowser(t, s), "github-acme"); !strings.Contains(p.body, "not allowed") || strings.Contains(users(), "outsider@example.org") {
		t.Errorf("org not allowed: %d\n%s", p.status, p.body)
	}

	// An email that belongs to an existing account: no silent link.
	local := s.createUser(t)
	gh.Set(func(f *federationtest.FakeGitHub) {
		f.UserID, f.Login, f.Orgs = 5003, "collider", nil
		f.Emails = []federationtest.GitHubEmail{{Email: strings.ToUpper(local.email), Primary: true, Verified: true}}
	})
	br5 := newBrowser(t, s)
	_, p = login(br5, "github")
	if !strings.Contains(p.body, "already exists") || !strings.Contains(p.body, `action="/login"`) {
		t.Fatalf("email collision: %d\n%s", p.status, p.body)
	}
	if hasSession(t, e, br5) {
		t.Fatal("an email collision signed the user in")
	}
	// A fresh attempt still asks: nothing was linked.
	if _, p := login(newBrowser(t, s), "github"); !strings.Contains(p.body, "already exists") {
		t.Fatalf("the collision was linked without a login:\n%s", p.body)
	}
	// Proving control of the local account links it.
	a, p = login(br5, "github")
	tk = finish(br5, a, br5.login(p, local))
	localSub := tk.idToken.Subject
	br6 := newBrowser(t, s)
	a, p = login(br6, "github")
	if tk := finish(br6, a, p); tk.idToken.Subject != localSub {
		t.Errorf("after linking, GitHub signs in as %q, want the local account %q", tk.idToken.Subject, localSub)
	}
	// The account page lists the link.
	acct := br6.get(s.issuer + "/account")
	if !strings.Contains(acct.body, `id="linked"`) || !strings.Contains(acct.body, "collider") {
		t.Errorf("account page does not list the linked GitHub account:\n%s", acct.body)
	}

	// Local MFA still applies after federation.
	secret, _ := enrollTOTP(t, br6, acct)
	br7 := newBrowser(t, s)
	a, p = login(br7, "github")
	if !strings.Contains(p.body, `action="/login/mfa"`) {
		t.Fatalf("federated login of a user with a second factor skipped it:\n%s", p.body)
	}
	tk = finish(br7, a, br7.follow(br7.submit(findForm(t, p, "/login/mfa"), url.Values{"code": {nextCode(secret)}})))
	if amr := strs(tk.claims["amr"]); !has(amr, "fed") || !has(amr, "otp") || !has(amr, "mfa") || tk.claims["acr"] != acr2FA {
		t.Errorf("federation + TOTP: amr %v acr %v", amr, tk.claims["acr"])
	}

	// A linked account that is the only way to sign in cannot be unlinked.
	octo := br.get(s.issuer + "/account")
	if r := br.submit(findForm(t, octo, "/account/linked/remove"), nil); !strings.Contains(r.body, "only way to sign in") {
		t.Errorf("unlinking the only way to sign in: %d\n%s", r.status, r.body)
	}
	// One that is not (the local account has a password) can.
	if r := br6.submit(findForm(t, br6.get(s.issuer+"/account"), "/account/linked/remove"), nil); !strings.Contains(r.body, "was unlinked") || strings.Contains(r.body, `id="linked"`) {
		t.Errorf("unlink: %d\n%s", r.status, r.body)
	}
}

// TestFederationBadIDToken: an OpenID upstream whose ID token has the
// wrong nonce, audience, issuer or signature, or an unverified email, is
// refused with a clear page and nothing is created.
func TestFederationBadIDToken(t *testing.T) {
	op := federationtest.NewFakeOP(t, "fed-client")
	cfg := writeConfig(t, fmt.Sprintf(`
federation:
  connectors:
    - id: sso
      type: oidc
      name: SSO
      allow_signup: true
      config: {issuer: %q, client_id: fed-client, client_secret: not-checked}
`, op.URL))
	s := startServer(t, backends(t)[0].newURL(t), cfg)
	c := s.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	relying := newRP(t, s, c, rpRedirect)
	try := func() page {
		br := newBrowser(t, s)
		return br.viaUpstream(br.follow(br.get(relying.newRequest().url)), "sso", s.issuer, op.URL)
	}
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		other  bool
		msg    string
	}{
		"wrong nonce":      {mutate: func(c map[string]any) { c["nonce"] = "replayed-nonce" }, msg: "did not work"},
		"wrong audience":   {mutate: func(c map[string]any) { c["aud"] = "another-client" }, msg: "did not work"},
		"wrong issuer":     {mutate: func(c map[string]any) { c["iss"] = "https://evil.example" }, msg: "did not work"},
		"bad signature":    {other: true, msg: "did not work"},
		"unverified email": {mutate: func(c map[string]any) { c["email_verified"] = false }, msg: "no verified email"},
	} {
		op.Set(tc.mutate, tc.other)
		if p := try(); p.status != 200 || !strings.Contains(p.body, tc.msg) || !strings.Contains(p.body, `action="/login"`) {
			t.Errorf("%s: %d\n%s", name, p.status, p.body)
		}
		if strings.Contains(s.cli(t, "", "users", "list"), "ada@example.org") {
			t.Fatalf("%s: a user was created", name)
		}
	}
	op.Set(nil, false)
	if p := try(); !strings.Contains(p.body, `action="/consent"`) || !strings.Contains(s.cli(t, "", "users", "list"), "ada@example.org") {
		t.Errorf("a good ID token: %d\n%s", p.status, p.body)
	}
}

// TestFederationOIDC uses a second gatehouse as the upstream, once as a
// generic OpenID provider (trusting its amr) and once "Google-style" (the
// google connector with its issuer pointed at the upstream): the
// downstream relying party's ID token carries the local sub, amr with fed
// (and the upstream's pwd when trusted), acr 1fa, the upstream's email.
func TestFederationOIDC(t *testing.T) {
	for _, tc := range []struct {
		typ, extra string
		trusted    bool
	}{
		{"oidc", "trust_amr: true\n        userinfo: true", true},
		{"google", "hosted_domains: []", false},
	} {
		t.Run(tc.typ, func(t *testing.T) { federateVia(t, tc.typ, tc.extra, tc.trusted) })
	}
}

func federateVia(t *testing.T, typ, extra string, trusted bool) {
	b := backends(t)[0]
	upstream := startServer(t, b.newURL(t))
	u := upstream.createUser(t)
	// The downstream is "localhost" so the two servers' cookies stay apart.
	port := freePort(t)
	downIssuer := fmt.Sprintf("http://localhost:%d", port)
	fedClient := upstream.createClient(t, "--name", "Downstream gatehouse", "--redirect-uri", downIssuer+"/login/federated/callback", "--first-party")
	cfg := writeConfig(t, fmt.Sprintf(`
federation:
  connectors:
    - id: corp
      type: %s
      name: Corp SSO
      allow_signup: true
      config:
        issuer: %s
        client_id: %s
        client_secret: %s
        %s
`, typ, upstream.issuer, fedClient.ID, fedClient.Secret, extra))
	down := startOn(t, port, b.newURL(t), downIssuer, cfg)
	c := down.createClient(t, "--name", "RP", "--redirect-uri", rpRedirect)
	relying := newRP(t, down, c, rpRedirect)
	br := newBrowser(t, down)
	a := relying.newRequest(oauth2.SetAuthURLParam("prompt", "login"))
	p := br.follow(br.get(a.url))
	p = br.viaUpstream(p, "corp", down.issuer, upstream.issuer)
	// At the upstream's login page.
	if !strings.Contains(p.url, upstream.issuer+"/login") {
		t.Fatalf("not at the upstream's login page: %s (%d)", p.url, p.status)
	}
	f := findForm(t, p, "/login")
	p = br.across(br.post(upstream.issuer+f.action, url.Values{"flow": {f.fields.Get("flow")}, "csrf_token": {f.fields.Get("csrf_token")},
		"email": {u.email}, "password": {u.password}}), down.issuer, upstream.issuer)
	if strings.Contains(p.body, `action="/consent"`) {
		f := findForm(t, p, "/consent")
		p = br.across(br.post(down.issuer+f.action, url.Values{"flow": {f.fields.Get("flow")}, "csrf_token": {f.fields.Get("csrf_token")}, "action": {"allow"}}), down.issuer, upstream.issuer)
	}
	tk := relying.exchange(a, br.callback(p, rpRedirect))
	amr := strs(tk.claims["amr"])
	if !has(amr, "fed") || has(amr, "pwd") != trusted || has(amr, "mfa") || tk.claims["acr"] != "urn:gatehouse:acr:1fa" {
		t.Errorf("federated ID token: amr %v acr %v (upstream amr trusted: %v)", amr, tk.claims["acr"], trusted)
	}
	if tk.claims["email"] != u.email {
		t.Errorf("email %v, want %s", tk.claims["email"], u.email)
	}
}
