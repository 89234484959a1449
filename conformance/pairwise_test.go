package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestPairwiseSubjects (issue 14, C145, C146): a client registered with
// subject_type pairwise sees every user under a subject of its own sector
// (the host of its redirect URIs, or of its sector_identifier_uri) — in
// the ID token, at userinfo, in introspection and in JWT access tokens —
// stable across logins and refreshes, and unlike any other sector's or the
// public one; its id_token_hint still names the user; registration fetches
// the sector document and refuses one that does not list every redirect
// URI.
func TestPairwiseSubjects(t *testing.T) {
	t.Parallel()
	s := startServer(t, backends(t)[0].newURL(t))
	u := s.createUser(t)
	other := "https://other.example.test/cb"
	sectorDocs := map[string]string{"/good.json": `["` + rpRedirect + `","` + other + `"]`, "/bad.json": `["` + other + `"]`, "/garbage.json": `{}`}
	sectorSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := sectorDocs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	defer sectorSrv.Close()

	if d, _ := getJSON(t, s.issuer+"/.well-known/openid-configuration"); !has(strs(d["subject_types_supported"]), "pairwise") {
		t.Errorf("subject_types_supported = %v", d["subject_types_supported"])
	}
	register := func(t *testing.T, meta map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"client_name": "Pairwise RP", "redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"scope": "openid offline_access"}
		for k, v := range meta {
			body[k] = v
		}
		return regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", body)
	}
	envFor := func(t *testing.T, meta map[string]any) *env {
		t.Helper()
		st, reg := register(t, meta)
		if st != 201 {
			t.Fatalf("register %v: %d %v", meta, st, reg)
		}
		c := testClient{ID: reg["client_id"].(string), Secret: reg["client_secret"].(string)}
		return &env{srv: s, user: u, client: c, rp: newRP(t, s, c, rpRedirect, "openid", "offline_access")}
	}
	byHost := envFor(t, map[string]any{"subject_type": "pairwise", "access_token_format": "jwt"})
	sameHost := envFor(t, map[string]any{"subject_type": "pairwise"})
	bySector := envFor(t, map[string]any{"subject_type": "pairwise", "redirect_uris": []string{rpRedirect, other}, "sector_identifier_uri": sectorSrv.URL + "/good.json"})
	recordCheck(t, "C145", true, "") // envFor fails the test unless the registration is 201
	public := envFor(t, map[string]any{})

	br := newBrowser(t, s)
	userinfoSub := func(t *testing.T, at string) string {
		t.Helper()
		_, m := s.userinfo(t, at)
		sub, _ := m["sub"].(string)
		return sub
	}
	subs := map[string]string{}
	for name, e := range map[string]*env{"host": byHost, "same host": sameHost, "sector": bySector, "public": public} {
		_, tk := e.in(t).fullLogin(t, br.in(t), oauth2.SetAuthURLParam("prompt", "consent"))
		sub := tk.idToken.Subject
		if ui := userinfoSub(t, tk.token.AccessToken); ui != sub {
			t.Errorf("%s: userinfo sub %q, ID token sub %q", name, ui, sub)
		}
		st, body, _ := s.postJSON(t, "/oauth2/introspect", e.client, map[string][]string{"token": {tk.token.AccessToken}})
		if st != 200 || body["sub"] != sub {
			t.Errorf("%s: introspection sub %v, want %q", name, body["sub"], sub)
		}
		if len(sub) > 255 || strings.ContainsFunc(sub, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			t.Errorf("%s: sub %q is not printable ASCII of at most 255 characters (C35)", name, sub)
		}
		subs[name] = sub
		if e == byHost {
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tk.token.AccessToken, ".")[1])
			var claims map[string]any
			if json.Unmarshal(payload, &claims) != nil || claims["sub"] != sub {
				t.Errorf("JWT access token sub %v, want %q", claims["sub"], sub)
			}
			// A refresh keeps the pairwise subject.
			fresh, err := e.rp.conf.TokenSource(e.rp.ctx, &oauth2.Token{RefreshToken: tk.token.RefreshToken}).Token()
			if err != nil {
				t.Fatal(err)
			}
			if rt := e.rp.verify(fresh, ""); rt.idToken.Subject != sub {
				t.Errorf("refreshed ID token sub %q, want %q", rt.idToken.Subject, sub)
			}
			// The pairwise ID token is a good id_token_hint: no login.
			a := e.rp.newRequest(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", tk.raw))
			cb := br.callback(br.follow(br.get(a.url)), rpRedirect)
			if cb.Get("code") == "" {
				t.Errorf("prompt=none with a pairwise id_token_hint: %v", cb)
			} else if again := e.rp.exchange(a, cb); again.idToken.Subject != sub {
				t.Errorf("second login sub %q, want %q", again.idToken.Subject, sub)
			}
		}
	}
	if subs["public"] == "" || subs["host"] == subs["public"] || subs["sector"] == subs["public"] || subs["sector"] == subs["host"] {
		t.Errorf("subjects: %v", subs)
	}
	if subs["same host"] != subs["host"] {
		t.Errorf("two clients of one sector see %q and %q", subs["same host"], subs["host"])
	}

	t.Run("registration refuses what cannot work", func(t *testing.T) {
		st, body := register(t, map[string]any{"subject_type": "pairwise", "sector_identifier_uri": sectorSrv.URL + "/bad.json"})
		recordCheck(t, "C146", st == 400 && body["error"] == "invalid_client_metadata", "sector document without the redirect URI: %d %v", st, body)
		for name, meta := range map[string]map[string]any{
			"sector document without the redirect URI (C146)": {"subject_type": "pairwise", "sector_identifier_uri": sectorSrv.URL + "/bad.json"},
			"sector document that is not a list":              {"subject_type": "pairwise", "sector_identifier_uri": sectorSrv.URL + "/garbage.json"},
			"sector document missing":                         {"subject_type": "pairwise", "sector_identifier_uri": sectorSrv.URL + "/none.json"},
			"several hosts, no sector":                        {"subject_type": "pairwise", "redirect_uris": []string{rpRedirect, other}},
			"unknown subject type":                            {"subject_type": "secret"},
			"sector for a public client":                      {"sector_identifier_uri": sectorSrv.URL + "/good.json"},
		} {
			if st, body := register(t, meta); st != 400 || body["error"] != "invalid_client_metadata" {
				t.Errorf("%s: %d %v", name, st, body)
			}
		}
		if out := s.cliErr(t, "clients", "create", "--name", "x", "--redirect-uri", rpRedirect, "--subject-type", "pairwise",
			"--sector-identifier-uri", sectorSrv.URL+"/good.json"); !strings.Contains(out, "not a public address") {
			// The CLI runs without --dev: the fetch is guarded like the server's.
			t.Errorf("CLI: %s", out)
		}
	})
}
