// Package admin is gatehouse's admin API: JSON over HTTP on its own
// listener, authenticated by admin API keys that carry roles, enforced per
// route, with every change written to the audit log. Its OpenAPI document
// (openapi.json) is committed and served at /admin/v1/openapi.json.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/storage"
)

//go:embed openapi.json
var openAPI []byte

// Roles an admin key can carry. admin may do everything; a write role
// includes the read role of the same resource.
const (
	RoleAdmin        = "admin"
	RoleClientsWrite = "clients:write"
	RoleClientsRead  = "clients:read"
	RoleUsersWrite   = "users:write"
	RoleUsersRead    = "users:read"
	// RoleMetricsRead may read /metrics only (a Prometheus scraper's key).
	RoleMetricsRead = "metrics:read"
)

// Roles lists every role.
var Roles = []string{RoleAdmin, RoleClientsWrite, RoleClientsRead, RoleUsersWrite, RoleUsersRead, RoleMetricsRead}

// Store is what the admin API needs from storage.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.SessionStore
	storage.AdminKeyStore
	storage.AuditStore
	storage.CredentialStore
	storage.Revoker
	storage.Transactor
	DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error)
}

// Options configure the API.
type Options struct {
	Store Store
	Keys  *keys.Manager
	// EnabledAlgs are the signing algorithms clients may ask for.
	EnabledAlgs []string
	Log         *slog.Logger
	Now         func() time.Time
	// Profiling serves Go's pprof profiles at /debug/pprof/ (admin role).
	Profiling bool
	// Metrics serves /metrics in Prometheus' text format (role
	// metrics:read); nil answers 404 there.
	Metrics http.Handler
	// Sectors fetches pairwise clients' sector_identifier_uri documents
	// (provider.SectorClient).
	Sectors *http.Client
}

// API serves the admin endpoints.
type API struct {
	o      Options
	routes []route
}

type route struct {
	method, pattern, role string
	h                     func(w http.ResponseWriter, r *http.Request, key storage.AdminKey)
}

// New returns the admin API.
func New(o Options) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &API{o: o}
	a.routes = []route{
		{"GET", "/admin/v1/clients", RoleClientsRead, a.listClients},
		{"POST", "/admin/v1/clients", RoleClientsWrite, a.createClient},
		{"GET", "/admin/v1/clients/{id}", RoleClientsRead, a.getClient},
		{"DELETE", "/admin/v1/clients/{id}", RoleClientsWrite, a.deleteClient},
		{"POST", "/admin/v1/clients/{id}/secret", RoleClientsWrite, a.rotateSecret},
		{"GET", "/admin/v1/users", RoleUsersRead, a.listUsers},
		{"POST", "/admin/v1/users", RoleUsersWrite, a.createUser},
		{"GET", "/admin/v1/users/{sub}", RoleUsersRead, a.getUser},
		{"DELETE", "/admin/v1/users/{sub}", RoleUsersWrite, a.deleteUser},
		{"POST", "/admin/v1/users/{sub}/password", RoleUsersWrite, a.setPassword},
		{"PUT", "/admin/v1/users/{sub}/profile", RoleUsersWrite, a.setProfile},
		{"POST", "/admin/v1/users/{sub}/disabled", RoleUsersWrite, a.setDisabled},
		{"DELETE", "/admin/v1/users/{sub}/factors", RoleUsersWrite, a.resetFactors},
		{"GET", "/admin/v1/users/{sub}/sessions", RoleUsersRead, a.listSessions},
		{"DELETE", "/admin/v1/users/{sub}/sessions", RoleUsersWrite, a.revokeSessions},
		{"GET", "/admin/v1/users/{sub}/grants", RoleUsersRead, a.listGrants},
		{"DELETE", "/admin/v1/users/{sub}/grants/{client}", RoleUsersWrite, a.revokeGrant},
		{"PUT", "/admin/v1/clients/{id}", RoleClientsWrite, a.updateClient},
		{"GET", "/admin/v1/keys", RoleAdmin, a.listKeys},
		{"POST", "/admin/v1/keys/rotate", RoleAdmin, a.rotateKey},
		{"GET", "/admin/v1/audit", RoleAdmin, a.listAudit},
		{"GET", "/metrics", RoleMetricsRead, a.metrics},
	}
	return a
}

// Handler serves the API; mount it on the admin listener only.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.routes {
		mux.Handle(rt.method+" "+rt.pattern, a.auth(rt))
	}
	mux.HandleFunc("GET /admin/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	if a.o.Profiling {
		// Profiles name code paths and timings: admin keys only.
		prof := func(h http.HandlerFunc) http.Handler {
			return a.auth(route{role: RoleAdmin, h: func(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) { h(w, r) }})
		}
		mux.Handle("GET /debug/pprof/", prof(pprof.Index))
		mux.Handle("GET /debug/pprof/cmdline", prof(pprof.Cmdline))
		mux.Handle("GET /debug/pprof/profile", prof(pprof.Profile))
		mux.Handle("GET /debug/pprof/symbol", prof(pprof.Symbol))
		mux.Handle("GET /debug/pprof/trace", prof(pprof.Trace))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "There is no admin endpoint here.")
	})
	return mux
}

// metrics serves the Prometheus metrics.
func (a *API) metrics(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	if a.o.Metrics == nil {
		writeError(w, http.StatusNotFound, "not_found", "Metrics are not enabled.")
		return
	}
	a.o.Metrics.ServeHTTP(w, r)
}

// Routes lists "METHOD pattern role" of every protected route.
func (a *API) Routes() [][3]string {
	out := make([][3]string, 0, len(a.routes))
	for _, rt := range a.routes {
		out = append(out, [3]string{rt.method, rt.pattern, rt.role})
	}
	return out
}

// KeyPrefix starts every admin API key.
const KeyPrefix = "gh_"

// NewKey makes an admin key: gh_<id>_<secret>, 256 random bits, shown once
// and stored as its SHA-256.
func NewKey(name string, roles []string, now time.Time) (string, storage.AdminKey, error) {
	if strings.TrimSpace(name) == "" {
		return "", storage.AdminKey{}, errors.New("an admin key needs a name")
	}
	if len(roles) == 0 {
		return "", storage.AdminKey{}, fmt.Errorf("an admin key needs at least one role (%s)", strings.Join(Roles, ", "))
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return "", storage.AdminKey{}, fmt.Errorf("unknown role %q (use %s)", r, strings.Join(Roles, ", "))
		}
	}
	id := httpx.RandomID(8)
	plain := KeyPrefix + id + "_" + httpx.RandomString(32)
	h := sha256.Sum256([]byte(plain))
	return plain, storage.AdminKey{ID: id, Hash: h[:], Name: name, Roles: roles, CreatedAt: now}, nil
}

// allows reports whether roles grant need.
func allows(roles []string, need string) bool {
	for _, r := range roles {
		if r == RoleAdmin || r == need || (need == RoleClientsRead && r == RoleClientsWrite) || (need == RoleUsersRead && r == RoleUsersWrite) {
			return true
		}
	}
	return false
}

// auth checks the bearer admin key: 401 when missing, unknown, wrong or
// revoked; 403 when it lacks the route's role.
func (a *API) auth(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		id, _, ok := strings.Cut(strings.TrimPrefix(tok, KeyPrefix), "_")
		if !strings.EqualFold(scheme, "bearer") || !strings.HasPrefix(tok, KeyPrefix) || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "An admin API key is required.")
			return
		}
		k, err := a.o.Store.GetAdminKey(r.Context(), id)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			a.fail(w, r, err)
			return
		}
		h := sha256.Sum256([]byte(tok))
		if err != nil || subtle.ConstantTimeCompare(h[:], k.Hash) != 1 || !k.RevokedAt.IsZero() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "The admin API key is invalid or revoked.")
			return
		}
		if !allows(k.Roles, rt.role) {
			writeError(w, http.StatusForbidden, "forbidden", "This admin API key lacks the role "+rt.role+".")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		rt.h(w, r, k)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
}

// fail maps an error to a response once.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "No such object.")
	case errors.Is(err, storage.ErrAlreadyExists):
		writeError(w, http.StatusConflict, "conflict", "It exists already.")
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "Changed concurrently; retry.")
	case errors.Is(err, storage.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The database is unavailable.")
	default:
		var bad badRequest
		if errors.As(err, &bad) {
			writeError(w, http.StatusBadRequest, "invalid_request", string(bad))
			return
		}
		a.o.Log.Error("admin", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "The request could not be completed.")
	}
}

// badRequest is a client error with a message for the caller.
type badRequest string

func (b badRequest) Error() string { return string(b) }

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the expected JSON: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body must be one JSON value with nothing after it")
	}
	return nil
}

// audit records a change made through the API.
func (a *API) audit(ctx context.Context, r *http.Request, key storage.AdminKey, typ, subject, clientID string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	ip := httpx.ClientIP(r)
	e := storage.AuditEvent{ID: httpx.RandomString(16), At: a.o.Now().UTC(), Type: typ, Actor: "admin-key:" + key.ID, Subject: subject,
		ClientID: clientID, IP: ip, RequestID: httpx.RequestID(ctx), Details: details}
	if err := a.o.Store.AppendAudit(ctx, e); err != nil {
		a.o.Log.Error("audit", "type", typ, "err", err)
	}
}

// page cuts a sorted list after the cursor: limit 1-500 (default 100).
func page[T any](r *http.Request, items []T, id func(T) string) (out []T, next string, err error) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &limit); err != nil || limit < 1 || limit > 500 {
			return nil, "", badRequest("limit must be between 1 and 500")
		}
	}
	cursor := r.URL.Query().Get("cursor")
	start := 0
	if cursor != "" {
		start = len(items)
		for i, it := range items {
			if id(it) > cursor {
				start = i
				break
			}
		}
	}
	end := min(len(items), start+limit)
	out = items[start:end]
	if end < len(items) {
		next = id(items[end-1])
	}
	if out == nil {
		out = []T{}
	}
	return out, next, nil
}
