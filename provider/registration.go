package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Registration modes.
const (
	RegistrationOff   = "off"
	RegistrationOpen  = "open"
	RegistrationToken = "token" // an initial access token is required
)

// PathRegister is the RFC 7591 registration endpoint; RFC 7592 management
// is at PathRegister/{client_id}.
const PathRegister = "/oauth2/register"

// registrar serves Dynamic Client Registration.
type registrar struct {
	p            *Provider
	mode         string
	initialToken []byte // SHA-256 of the initial access token (mode token)
	env          clientspec.Env
	limit        *attempt.Limiter
	policy       RegistrationPolicy
}

// RegistrationPolicy bounds what a dynamically registered client may ask
// for: a registration never gains a scope, a grant type or an audience the
// operator did not open to registration (clients made by operators, through
// the CLI or the admin API, are not bound by it).
type RegistrationPolicy struct {
	// AllowedScopes (default: openid profile email address phone
	// offline_access).
	AllowedScopes []string
	// AllowedGrantTypes (default: authorization_code refresh_token).
	AllowedGrantTypes []string
	// AllowAudience lets a registration name audiences (default: no).
	AllowAudience bool
}

// Default registration policy.
var (
	DefaultRegistrationScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}
	DefaultRegistrationGrants = []string{"authorization_code", "refresh_token"}
)

func (p RegistrationPolicy) withDefaults() RegistrationPolicy {
	if len(p.AllowedScopes) == 0 {
		p.AllowedScopes = DefaultRegistrationScopes
	}
	if len(p.AllowedGrantTypes) == 0 {
		p.AllowedGrantTypes = DefaultRegistrationGrants
	}
	return p
}

// apply checks a registration against the policy; a registration that
// names no scope gets the allowed ones among the defaults.
func (p RegistrationPolicy) apply(s *clientspec.Spec) error {
	grants := s.GrantTypes
	if len(grants) == 0 {
		grants = []string{"authorization_code"}
	}
	for _, g := range grants {
		if !slices.Contains(p.AllowedGrantTypes, g) {
			return clientspec.BadMetadata("grant type %q is not open to registration here (allowed: %s)", g, strings.Join(p.AllowedGrantTypes, " "))
		}
	}
	if s.Scope == "" {
		var scopes []string
		for _, sc := range DefaultRegistrationScopes {
			if slices.Contains(p.AllowedScopes, sc) && (sc != "offline_access" || slices.Contains(grants, "refresh_token")) {
				scopes = append(scopes, sc)
			}
		}
		s.Scope = strings.Join(scopes, " ")
	}
	for _, sc := range strings.Fields(s.Scope) {
		if !slices.Contains(p.AllowedScopes, sc) {
			return clientspec.BadMetadata("scope %q is not open to registration here (allowed: %s)", sc, strings.Join(p.AllowedScopes, " "))
		}
	}
	if len(s.Audience) > 0 && !p.AllowAudience {
		return clientspec.BadMetadata("audience cannot be set by registration here; ask the server's operator")
	}
	return nil
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func (g *registrar) register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathRegister, g.create)
	mux.HandleFunc("GET "+PathRegister+"/{id}", g.read)
	mux.HandleFunc("PUT "+PathRegister+"/{id}", g.update)
	mux.HandleFunc("DELETE "+PathRegister+"/{id}", g.delete)
}

// regError writes an RFC 7591 §3.2.2 / RFC 6750 error.
func regError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		writeBearerError(w, &bearerError{Status: status, Code: code, Description: desc})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": safeDescription(desc)})
}

func (g *registrar) fail(w http.ResponseWriter, r *http.Request, err error) {
	var me *clientspec.MetadataError
	switch {
	case errors.As(err, &me):
		regError(w, http.StatusBadRequest, me.Code, me.Description)
	case errors.Is(err, storage.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		regError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please retry in a moment.")
	default:
		g.p.log.Error("registration", "path", r.URL.Path, "request_id", httpx.RequestID(r.Context()), "err", err)
		regError(w, http.StatusInternalServerError, "server_error", "The registration could not be completed.")
	}
}

// registrationLimit bounds registrations per client address, counted in
// the database so every replica shares it: 30 at once, then a pause that
// doubles up to ten minutes; forgotten ten minutes after the last.
var registrationLimit = storage.AttemptPolicy{Free: 30, Base: 10 * time.Second, Max: 10 * time.Minute, Window: 10 * time.Minute}

func (g *registrar) allowed(w http.ResponseWriter, r *http.Request) bool {
	_, err := g.limit.Reserve(r.Context(), attempt.Key{Name: "reg:ip:" + httpx.ClientIP(r), Policy: registrationLimit})
	var le *attempt.LimitedError
	switch {
	case errors.As(err, &le):
		w.Header().Set("Retry-After", fmt.Sprint(int(le.RetryAfter.Seconds()+0.999)))
		regError(w, http.StatusTooManyRequests, "slow_down", "Too many registrations from this address; retry later.")
		return false
	case err != nil:
		g.fail(w, r, err)
		return false
	}
	return true
}

func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// decodeSpec reads a JSON metadata document (unknown members are ignored,
// as RFC 7591 §2 asks; a client_id in it is never honoured).
func decodeSpec(w http.ResponseWriter, r *http.Request) (clientspec.Spec, error) {
	var s clientspec.Spec
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return s, clientspec.BadMetadata("the request body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&s); err != nil {
		return s, clientspec.BadMetadata("the request body is not a JSON client metadata document: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return s, clientspec.BadMetadata("the request body must be one JSON object with nothing after it")
	}
	return s, nil
}

// issue makes a registration access token and its stored hash.
func issue() (token, hash string) {
	token = httpx.RandomString(32)
	return token, hex.EncodeToString(hashToken(token))
}

func (g *registrar) respond(w http.ResponseWriter, status int, c storage.Client, secret, rat string) {
	v := clientspec.View(c, secret)
	v.RegistrationAccessToken = rat
	v.RegistrationClientURI = g.p.issuer + PathRegister + "/" + c.ID
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *registrar) create(w http.ResponseWriter, r *http.Request) {
	if !g.allowed(w, r) {
		return
	}
	if g.mode == RegistrationToken {
		t := bearer(r)
		if t == "" || subtle.ConstantTimeCompare(hashToken(t), g.initialToken) != 1 {
			regError(w, http.StatusUnauthorized, "invalid_token", "A valid initial access token is required to register.")
			return
		}
	}
	spec, err := decodeSpec(w, r)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	spec.ID, spec.FirstParty, spec.Owner, spec.RequireMFA, spec.Secret = "", false, "", false, ""
	if err := g.policy.apply(&spec); err != nil {
		g.fail(w, r, err)
		return
	}
	c, secret, err := spec.Build(g.env, g.p.now().UTC())
	if err == nil {
		err = spec.VerifySector(r.Context(), g.p.sectors)
	}
	if err != nil {
		g.fail(w, r, err)
		return
	}
	rat, hash := issue()
	c.RegistrationTokenHash = hash
	if err := g.p.store.Clients.CreateClient(r.Context(), c); err != nil {
		g.fail(w, r, err)
		return
	}
	g.p.log.Info("client registered", "client_id", c.ID, "request_id", httpx.RequestID(r.Context()))
	g.respond(w, http.StatusCreated, c, secret, rat)
}

// authorized loads the client named in the path if the bearer token is its
// registration access token. Unknown clients and wrong tokens look the same.
func (g *registrar) authorized(ctx context.Context, w http.ResponseWriter, r *http.Request) (storage.Client, bool) {
	t := bearer(r)
	c, err := g.p.store.Clients.GetClient(ctx, r.PathValue("id"))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		g.fail(w, r, err)
		return c, false
	}
	want, _ := hex.DecodeString(c.RegistrationTokenHash)
	if t == "" || err != nil || len(want) == 0 || subtle.ConstantTimeCompare(hashToken(t), want) != 1 {
		regError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is invalid.")
		return c, false
	}
	return c, true
}

func (g *registrar) read(w http.ResponseWriter, r *http.Request) {
	c, ok := g.authorized(r.Context(), w, r)
	if !ok {
		return
	}
	g.respond(w, http.StatusOK, c, "", "")
}

// update replaces the registration (RFC 7592 §2.2) and rotates the
// registration access token; the old one stops working.
func (g *registrar) update(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, ok := g.authorized(ctx, w, r)
	if !ok {
		return
	}
	spec, err := decodeSpec(w, r)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	spec.ID, spec.FirstParty, spec.Owner, spec.RequireMFA, spec.Secret = c.ID, c.FirstParty, c.Owner, c.RequireMFA, ""
	if err := g.policy.apply(&spec); err != nil {
		g.fail(w, r, err)
		return
	}
	nc, secret, err := spec.Build(g.env, g.p.now().UTC())
	if err == nil {
		err = spec.VerifySector(ctx, g.p.sectors)
	}
	if err != nil {
		g.fail(w, r, err)
		return
	}
	rat, hash := issue()
	updated, err := g.p.store.Clients.UpdateClient(ctx, c.ID, func(old storage.Client) (storage.Client, error) {
		if old.RegistrationTokenHash != c.RegistrationTokenHash {
			return old, storage.ErrConflict // updated concurrently with the same token
		}
		next, shown := clientspec.Replace(old, nc, secret)
		next.RegistrationTokenHash, secret = hash, shown
		return next, nil
	})
	if errors.Is(err, storage.ErrConflict) {
		regError(w, http.StatusUnauthorized, "invalid_token", "The registration access token is invalid.")
		return
	}
	if err != nil {
		g.fail(w, r, err)
		return
	}
	g.p.clients.forget(c.ID)
	g.respond(w, http.StatusOK, updated, secret, rat)
}

// delete removes the client and every token issued to it (RFC 7592 §2.3).
func (g *registrar) delete(w http.ResponseWriter, r *http.Request) {
	c, ok := g.authorized(r.Context(), w, r)
	if !ok {
		return
	}
	if err := g.p.store.Clients.DeleteClient(r.Context(), c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		g.fail(w, r, err)
		return
	}
	g.p.clients.forget(c.ID)
	g.p.log.Info("client deleted", "client_id", c.ID, "request_id", httpx.RequestID(r.Context()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
