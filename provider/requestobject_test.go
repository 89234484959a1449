package provider

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRequestObjectClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := &Provider{issuer: "https://id.example", now: func() time.Time { return now }}
	sec := func(d time.Duration) json.Number { return json.Number(jsonInt(now.Add(d).Unix())) }
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"minimal", map[string]any{}, true},
		{"iss aud exp", map[string]any{"iss": "rp", "aud": "https://id.example", "exp": sec(time.Minute), "nbf": sec(0), "iat": sec(0)}, true},
		{"aud list with the endpoint", map[string]any{"aud": []any{"x", "https://id.example/oauth2/auth"}}, true},
		{"exp within skew", map[string]any{"exp": sec(-time.Minute)}, true},
		{"expired", map[string]any{"exp": sec(-time.Hour)}, false},
		{"exp a string", map[string]any{"exp": "tomorrow"}, false},
		{"nbf in the future", map[string]any{"nbf": sec(time.Hour)}, false},
		{"iss another client", map[string]any{"iss": "other"}, false},
		{"aud another server", map[string]any{"aud": "https://other.example"}, false},
		{"aud a number", map[string]any{"aud": json.Number("1")}, false},
		{"client_id another client", map[string]any{"client_id": "other"}, false},
		{"nested request", map[string]any{"request": "x"}, false},
	}
	for _, tt := range tests {
		if err := (authorizeFlow{p}).checkRequestObjectClaims("rp", tt.claims); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestFlattenRequestObject(t *testing.T) {
	var claims map[string]any
	d := json.NewDecoder(strings.NewReader(`{"iss":"rp","aud":"x","exp":1,"jti":"j","state":"s","max_age":3600,"claims":{"userinfo":{"name":null}},"prompt":"login","flag":true,"nothing":null}`))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	got, err := flattenRequestObject("rp", claims)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"state": "s", "max_age": "3600", "claims": `{"userinfo":{"name":null}}`, "prompt": "login", "flag": "true", "client_id": "rp"}
	if len(got) != len(want) {
		t.Errorf("params %v", got)
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
}
