package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestFrozenClock: the server decides by the clock it is given: the first
// signing key starts at it, and a user an operator creates and the audit
// event of it carry it.
func TestFrozenClock(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	cfg := config.Default()
	cfg.Issuer, cfg.Dev, cfg.DatabaseURL = "http://localhost:8080", true, "sqlite://unused"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	a, err := app.New(ctx, cfg, app.Deps{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := ops.New(st, ops.Options{}).AdminKeys.Create(ctx, ops.Actor{Name: "test"}, "test", []string{ops.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		a.Admin.ServeHTTP(w, r)
		if w.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	at := float64(frozen.Unix())
	if u := call(http.MethodPost, "/admin/v1/users", `{"email": "ann@example.com", "password": "a-long-password"}`); u["created_at"] != at {
		t.Errorf("user created_at %v, want %v", u["created_at"], at)
	}
	events := call(http.MethodGet, "/admin/v1/audit", "")["items"].([]any)
	if len(events) == 0 || !strings.HasPrefix(events[0].(map[string]any)["At"].(string), "2031-03-04T05:06:07") {
		t.Errorf("audit events %v, want the latest at %v", events, frozen)
	}
	keys := call(http.MethodGet, "/admin/v1/keys", "")["items"].([]any)
	if len(keys) == 0 || keys[0].(map[string]any)["activate_at"] != at {
		t.Errorf("signing keys %v, want the first active from %v", keys, at)
	}
}
