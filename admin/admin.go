// Package admin is gatehouse's admin API: JSON over HTTP on its own
// listener, authenticated by admin API keys that carry roles, enforced per
// route. Every operation is the operator service's (internal/ops), the one
// the CLI calls too, so each change is written to the audit log with the
// key as its actor, in the change's transaction. Its OpenAPI document
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
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/storage"
)

//go:embed openapi.json
var openAPI []byte

// KeyStore finds the admin key a request presents.
type KeyStore interface {
	GetAdminKey(ctx context.Context, id string) (storage.AdminKey, error)
}

// Options configure the API.
type Options struct {
	// Ops carries out every operation.
	Ops *ops.Service
	// Keys finds the admin key a request presents.
	Keys KeyStore
	Log  *slog.Logger
	// Profiling serves Go's pprof profiles at /debug/pprof/ (admin role).
	Profiling bool
	// Metrics serves /metrics in Prometheus' text format (role
	// metrics:read); nil answers 404 there.
	Metrics http.Handler
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
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &API{o: o}
	u := userRoutes{a}
	a.routes = []route{
		{"GET", "/admin/v1/clients", ops.RoleClientsRead, a.listClients},
		{"POST", "/admin/v1/clients", ops.RoleClientsWrite, a.createClient},
		{"GET", "/admin/v1/clients/{id}", ops.RoleClientsRead, a.getClient},
		{"DELETE", "/admin/v1/clients/{id}", ops.RoleClientsWrite, a.deleteClient},
		{"POST", "/admin/v1/clients/{id}/secret", ops.RoleClientsWrite, a.rotateSecret},
		{"GET", "/admin/v1/users", ops.RoleUsersRead, u.listUsers},
		{"POST", "/admin/v1/users", ops.RoleUsersWrite, u.createUser},
		{"GET", "/admin/v1/users/{sub}", ops.RoleUsersRead, u.getUser},
		{"DELETE", "/admin/v1/users/{sub}", ops.RoleUsersWrite, u.deleteUser},
		{"POST", "/admin/v1/users/{sub}/password", ops.RoleUsersWrite, u.setPassword},
		{"PUT", "/admin/v1/users/{sub}/profile", ops.RoleUsersWrite, u.setProfile},
		{"POST", "/admin/v1/users/{sub}/disabled", ops.RoleUsersWrite, u.setDisabled},
		{"DELETE", "/admin/v1/users/{sub}/factors", ops.RoleUsersWrite, u.resetFactors},
		{"POST", "/admin/v1/users/invitations", ops.RoleUsersWrite, u.invite},
		{"POST", "/admin/v1/users/{sub}/recovery", ops.RoleUsersWrite, u.sendRecovery},
		{"POST", "/admin/v1/users/{sub}/verification", ops.RoleUsersWrite, u.sendVerification},
		{"GET", "/admin/v1/users/{sub}/sessions", ops.RoleUsersRead, u.listSessions},
		{"DELETE", "/admin/v1/users/{sub}/sessions", ops.RoleUsersWrite, u.revokeSessions},
		{"GET", "/admin/v1/users/{sub}/grants", ops.RoleUsersRead, u.listGrants},
		{"DELETE", "/admin/v1/users/{sub}/grants/{client}", ops.RoleUsersWrite, u.revokeGrant},
		{"PUT", "/admin/v1/clients/{id}", ops.RoleClientsWrite, a.updateClient},
		{"GET", "/admin/v1/keys", ops.RoleAdmin, a.listKeys},
		{"POST", "/admin/v1/keys/rotate", ops.RoleAdmin, a.rotateKey},
		{"GET", "/admin/v1/audit", ops.RoleAdmin, a.listAudit},
		{"GET", "/metrics", ops.RoleMetricsRead, a.metrics},
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
			return a.auth(route{role: ops.RoleAdmin, h: func(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) { h(w, r) }})
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

// allows reports whether roles grant need.
func allows(roles []string, need string) bool {
	for _, r := range roles {
		if r == ops.RoleAdmin || r == need || (need == ops.RoleClientsRead && r == ops.RoleClientsWrite) || (need == ops.RoleUsersRead && r == ops.RoleUsersWrite) {
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
		id, _, ok := strings.Cut(strings.TrimPrefix(tok, ops.KeyPrefix), "_")
		if !strings.EqualFold(scheme, "bearer") || !strings.HasPrefix(tok, ops.KeyPrefix) || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "An admin API key is required.")
			return
		}
		k, err := a.o.Keys.GetAdminKey(r.Context(), id)
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
		var invalid ops.InvalidInput
		var me *clientspec.MetadataError
		switch {
		case errors.As(err, &bad):
			writeError(w, http.StatusBadRequest, "invalid_request", string(bad))
			return
		case errors.As(err, &invalid):
			writeError(w, http.StatusBadRequest, "invalid_request", string(invalid))
			return
		case errors.As(err, &me):
			writeError(w, http.StatusBadRequest, me.Code, me.Description)
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

// actor is the holder of the request's admin key.
func actor(r *http.Request, key storage.AdminKey) ops.Actor { return ops.AdminKeyActor(r, key.ID) }

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
