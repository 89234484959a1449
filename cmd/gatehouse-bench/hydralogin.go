package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// hydraLogin is a login and consent app for Ory Hydra that accepts every
// request at once (subject "bench-user", remembered), so the authcode
// scenario can run against Hydra the way it runs against gatehouse with a
// session and remembered consent.
func hydraLogin(args []string) error {
	fs := flag.NewFlagSet("hydra-login", flag.ContinueOnError)
	admin := fs.String("admin", "", "Hydra's admin URL (e.g. http://127.0.0.1:4445)")
	listen := fs.String("listen", "127.0.0.1:3000", "address to serve /login and /consent on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin == "" {
		return errors.New("--admin is required")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	call := func(method, path, challenge string, body any, out any) error {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, strings.TrimSuffix(*admin, "/")+path+"?"+challenge, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, raw)
		}
		return json.Unmarshal(raw, out)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		ch := url.Values{"login_challenge": {r.URL.Query().Get("login_challenge")}}.Encode()
		var acc struct {
			RedirectTo string `json:"redirect_to"`
		}
		if err := call(http.MethodPut, "/admin/oauth2/auth/requests/login/accept", ch, map[string]any{"subject": "bench-user", "remember": true, "remember_for": 0}, &acc); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, acc.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		ch := url.Values{"consent_challenge": {r.URL.Query().Get("consent_challenge")}}.Encode()
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
		}
		if err := call(http.MethodGet, "/admin/oauth2/auth/requests/consent", ch, nil, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var acc struct {
			RedirectTo string `json:"redirect_to"`
		}
		body := map[string]any{"grant_scope": req.RequestedScope, "grant_access_token_audience": req.RequestedAudience, "remember": true, "remember_for": 0,
			"session": map[string]any{"id_token": map[string]any{"email": "bench@example.test"}}}
		if err := call(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept", ch, body, &acc); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, acc.RedirectTo, http.StatusFound)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
