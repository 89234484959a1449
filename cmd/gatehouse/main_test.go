package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	jose "github.com/go-jose/go-jose/v4"
)

// run executes the CLI in process and returns its output and error.
func run(t *testing.T, stdin string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	g := &globals{stdin: strings.NewReader(stdin), stdout: &out, stderr: &out}
	root := newRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestServeRefusesUnsafeConfig(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no secret", nil, []string{"serve", "--database-url", db}, "GATEHOUSE_SECRETS"},
		{"http issuer off localhost", map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("x", 40)},
			[]string{"serve", "--database-url", db, "--issuer", "http://id.example.com"}, "http is only allowed"},
		{"no database", map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("x", 40)}, []string{"serve"}, "database_url"},
		{"unreachable PostgreSQL names the host", map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("x", 40)},
			[]string{"serve", "--database-url", "postgres://gh:pw@127.0.0.1:1/gh?connect_timeout=2", "--issuer", "https://id.example.com"}, "127.0.0.1:1"},
		{"schema not migrated", map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("x", 40)},
			[]string{"serve", "--database-url", db, "--issuer", "https://id.example.com"}, "gatehouse migrate up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GATEHOUSE_SECRETS", "")
			_, err := run(t, "", tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestUsersAndClients(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	if out, err := run(t, "", nil, "migrate", "up", "--database-url", db); err != nil || !migratedToLatest(out) {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	if _, err := run(t, "hunter2-hunter2\n", nil, "users", "create", "--email", "Bob@Example.com", "--name", "Bob", "--password-stdin", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "another-pass\n", nil, "users", "create", "--email", "bob@example.com", "--password-stdin", "--database-url", db); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, err := run(t, "short\n", nil, "users", "create", "--email", "c@example.com", "--password-stdin", "--database-url", db); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := run(t, "new-password-1\n", nil, "users", "set-password", "--email", "bob@example.com", "--password-stdin", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "new-password-1\n", nil, "users", "set-password", "--email", "nobody@example.com", "--password-stdin", "--database-url", db); err == nil {
		t.Fatal("set-password for a missing user succeeded")
	}
	out, err := run(t, "", nil, "users", "list", "--database-url", db)
	if err != nil || !strings.Contains(out, "bob@example.com") || strings.Contains(out, "argon2") {
		t.Fatalf("users list: %v\n%s", err, out)
	}

	out, err = run(t, "", nil, "clients", "create", "--name", "Web", "--redirect-uri", "https://app.example/cb", "--output", "json", "--database-url", db)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	secret, _ := c["client_secret"].(string)
	if c["client_id"] == "" || len(secret) < 43 || c["client_secret_expires_at"] != float64(0) {
		t.Fatalf("client JSON %v", c)
	}
	out, err = run(t, "", nil, "clients", "list", "--database-url", db)
	if err != nil || !strings.Contains(out, c["client_id"].(string)) || strings.Contains(out, secret) {
		t.Fatalf("clients list: %v\n%s", err, out)
	}
	bad := [][]string{
		{"--redirect-uri", "http://app.example/cb"},       // http off loopback
		{"--redirect-uri", "https://app.example/cb#frag"}, // fragment
		{"--redirect-uri", "javascript:alert(1)"},         // script scheme
		{"--redirect-uri", "com.example.app:/cb"},         // custom scheme, confidential
		{"--redirect-uri", "/relative"},                   // relative
		{"--grant-type", "implicit", "--redirect-uri", "https://a.example/cb"},
		{"--grant-type", "authorization_code"}, // no redirect URI
		{"--public", "--redirect-uri", "https://a.example/cb", "--token-endpoint-auth-method", "client_secret_basic"},
		{"--redirect-uri", "https://a.example/cb", "--backchannel-logout-uri", "http://127.0.0.1:9/bcl"},   // loopback http without --dev
		{"--redirect-uri", "https://a.example/cb", "--frontchannel-logout-uri", "https://a.example/fcl#x"}, // fragment
		{"--redirect-uri", "https://a.example/cb", "--frontchannel-logout-session-required"},               // no URI
	}
	for _, args := range bad {
		_, err := run(t, "", nil, append([]string{"clients", "create", "--name", "Bad", "--database-url", db}, args...)...)
		if err == nil {
			t.Errorf("clients create %v succeeded", args)
		}
	}
	// Logout URIs: stored, shown, changed; loopback http under --dev.
	out, err = run(t, "", nil, "clients", "create", "--name", "Logout", "--redirect-uri", "https://a.example/cb", "--output", "json", "--database-url", db,
		"--backchannel-logout-uri", "https://a.example/bcl", "--backchannel-logout-session-required", "--frontchannel-logout-uri", "https://a.example/fcl")
	var lc map[string]any
	if err != nil || json.Unmarshal([]byte(out), &lc) != nil || lc["backchannel_logout_uri"] != "https://a.example/bcl" || lc["backchannel_logout_session_required"] != true ||
		lc["frontchannel_logout_uri"] != "https://a.example/fcl" {
		t.Fatalf("clients create with logout URIs: %v\n%s", err, out)
	}
	out, err = run(t, "", nil, "clients", "update", lc["client_id"].(string), "--dev", "--frontchannel-logout-uri", "http://127.0.0.1:9/fcl", "--frontchannel-logout-session-required", "--database-url", db)
	if err != nil || !strings.Contains(out, `"frontchannel_logout_uri": "http://127.0.0.1:9/fcl"`) || !strings.Contains(out, `"frontchannel_logout_session_required": true`) || !strings.Contains(out, `"backchannel_logout_uri": "https://a.example/bcl"`) {
		t.Fatalf("clients update --dev with a loopback front-channel URI: %v\n%s", err, out)
	}
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	privJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	pubJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "priv.json"), privJWKS, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "pub.json"), pubJWKS, 0o600)
	if _, err := run(t, "", nil, "clients", "create", "--name", "K", "--redirect-uri", "https://a.example/cb", "--token-endpoint-auth-method", "private_key_jwt",
		"--jwks-file", filepath.Join(dir, "priv.json"), "--database-url", db); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("a JWKS with a private key was accepted: %v", err)
	}
	if _, err := run(t, "", nil, "clients", "create", "--name", "K", "--redirect-uri", "https://a.example/cb", "--token-endpoint-auth-method", "private_key_jwt",
		"--database-url", db); err == nil {
		t.Error("private_key_jwt without a JWKS was accepted")
	}
	if out, err := run(t, "", nil, "clients", "create", "--name", "K", "--redirect-uri", "https://a.example/cb", "--token-endpoint-auth-method", "private_key_jwt",
		"--jwks-file", filepath.Join(dir, "pub.json"), "--output", "json", "--database-url", db); err != nil || strings.Contains(out, "client_secret\"") {
		t.Errorf("private_key_jwt client: %v\n%s", err, out)
	}
	if _, err := run(t, "", nil, "clients", "create", "--name", "Native", "--public", "--redirect-uri", "com.example.app:/cb", "--redirect-uri", "http://127.0.0.1/cb", "--database-url", db); err != nil {
		t.Errorf("native public client: %v", err)
	}
	out, err = run(t, "", nil, "clients", "update", c["client_id"].(string), "--name", "Renamed", "--redirect-uri", "https://app.example/cb2", "--database-url", db)
	if err != nil || !strings.Contains(out, `"client_name": "Renamed"`) || !strings.Contains(out, "cb2") || strings.Contains(out, "client_secret\"") {
		t.Fatalf("clients update: %v\n%s", err, out)
	}
	if out, _ := run(t, "", nil, "clients", "get", c["client_id"].(string), "--database-url", db); !strings.Contains(out, `"scope"`) || !strings.Contains(out, "Renamed") {
		t.Fatalf("clients get after update:\n%s", out)
	}
	if _, err := run(t, "", nil, "clients", "update", c["client_id"].(string), "--redirect-uri", "http://evil.example/cb", "--database-url", db); err == nil {
		t.Fatal("an update to an http redirect URI was accepted")
	}
	if _, err := run(t, "", nil, "clients", "delete", c["client_id"].(string), "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", nil, "clients", "delete", c["client_id"].(string), "--database-url", db); err == nil {
		t.Fatal("deleting a missing client succeeded")
	}
	if out, err := run(t, "", nil, "version"); err != nil || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// migratedToLatest reads `migrate status` output: schema version = latest.
func migratedToLatest(out string) bool {
	var cur, latest int
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "schema version: "); ok {
			cur, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(line, "latest version: "); ok {
			latest, _ = strconv.Atoi(v)
		}
	}
	return latest > 0 && cur == latest
}

func TestKeysCommands(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	env := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("s", 40), "GATEHOUSE_KEYS_ALGORITHMS": "RS256,ES256"}
	if _, err := run(t, "", env, "migrate", "up", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "", env, "keys", "list", "--database-url", db)
	if err != nil || strings.Count(out, "active") != 2 {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if out, err = run(t, "", env, "keys", "rotate", "--alg", "ES256", "--database-url", db); err != nil || !strings.Contains(out, "new ES256 key") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	out, _ = run(t, "", env, "keys", "list", "--database-url", db)
	if !strings.Contains(out, "next") {
		t.Fatalf("after rotate, no next key:\n%s", out)
	}
	if _, err := run(t, "", env, "keys", "rotate", "--alg", "EdDSA", "--database-url", db); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("rotating a disabled algorithm: %v", err)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	pemFile := filepath.Join(t.TempDir(), "weak.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weak)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", env, "keys", "import", "--alg", "RS256", "--file", pemFile, "--database-url", db); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("importing a 1024-bit key: %v", err)
	}
	strong, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(strong)
	ecFile := filepath.Join(t.TempDir(), "ec.pem")
	if err := os.WriteFile(ecFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", env, "keys", "import", "--alg", "RS256", "--file", ecFile, "--database-url", db); err == nil {
		t.Fatal("an EC key imported for RS256")
	}
	if out, err := run(t, "", env, "keys", "import", "--alg", "ES256", "--file", ecFile, "--now", "--database-url", db); err != nil || !strings.Contains(out, "imported ES256 key") {
		t.Fatalf("importing a P-256 key: %v\n%s", err, out)
	}
	// A wrong key-encryption secret changes nothing and says which setting to fix.
	bad := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("x", 40), "GATEHOUSE_KEYS_ALGORITHMS": "RS256,ES256"}
	if _, err := run(t, "", bad, "keys", "list", "--database-url", db); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRETS") {
		t.Fatalf("wrong secret: %v", err)
	}
	// Secret rotation: the new secret first, then reencrypt, then the new one alone.
	both := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("n", 40) + "," + strings.Repeat("s", 40), "GATEHOUSE_KEYS_ALGORITHMS": "RS256,ES256"}
	if out, err := run(t, "", both, "keys", "reencrypt", "--database-url", db); err != nil || !strings.Contains(out, "re-encrypted") {
		t.Fatalf("reencrypt: %v\n%s", err, out)
	}
	only := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("n", 40), "GATEHOUSE_KEYS_ALGORITHMS": "RS256,ES256"}
	if _, err := run(t, "", only, "keys", "list", "--database-url", db); err != nil {
		t.Fatalf("after reencrypt the new secret alone: %v", err)
	}
	if out, err := run(t, "", only, "keys", "rotate-hmac", "--database-url", db); err != nil || !strings.Contains(out, "new opaque-token secret") {
		t.Fatalf("rotate-hmac: %v\n%s", err, out)
	}
}

// TestConfigCommands: `config example` prints a file `config validate`
// accepts once the keys without a default are given; validate names what is
// wrong (an unknown key, a bad connector block, a bad value) and starts
// nothing.
func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	example, err := run(t, "", nil, "config", "example")
	if err != nil || !strings.Contains(example, "max_assertion_lifetime: 10m") {
		t.Fatalf("config example: %v\n%s", err, example)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("s", 40), "GATEHOUSE_DATABASE_URL": "sqlite://" + filepath.Join(dir, "x.db")}
	if out, err := run(t, "", env, "config", "validate", "--config", path); err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("validate the example: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
		t.Error("validate opened the database")
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "issuer: http://localhost:8080\nlistenn: 127.0.0.1:1\n", "listenn"},
		{"bad value", "pkce:\n  required: sometimes\n", "pkce.required"},
		{"bad duration", "lifetimes:\n  access_token: an hour\n", "not a duration"},
		{"bad connector", "federation:\n  connectors:\n    - id: gh\n      type: github\n      config:\n        client_idd: x\n", "client_idd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := run(t, "", env, "config", "validate", "--config", p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestHealth: the container health check asks the configured listener
// (a wildcard listen address is asked on 127.0.0.1) and fails otherwise.
func TestHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "database down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if out, err := run(t, "", map[string]string{"GATEHOUSE_LISTEN": "0.0.0.0:" + port}, "health"); err != nil || !strings.Contains(out, "ok: http://127.0.0.1:"+port+"/healthz") {
		t.Errorf("health: %v %s", err, out)
	}
	if out, err := run(t, "", nil, "health", "--url", srv.URL, "--path", "/.well-known/openid-configuration"); err != nil || !strings.Contains(out, "/.well-known/openid-configuration") {
		t.Errorf("health --path: %v %s", err, out)
	}
	if _, err := run(t, "", nil, "health", "--url", srv.URL, "--ready"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("health --ready with the database down: %v", err)
	}
	srv.Close()
	if _, err := run(t, "", nil, "health", "--url", srv.URL); err == nil {
		t.Error("health with nothing listening succeeded")
	}
}

// TestBackupCommand: `backup --to` copies a SQLite database the CLI can
// open again; it refuses to overwrite; PostgreSQL is sent to pg_dump.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "live.db")
	env := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("s", 40)}
	if _, err := run(t, "a-long-password\n", env, "users", "create", "--email", "ada@example.test", "--password-stdin", "--database-url", db); err == nil {
		t.Fatal("users create on an unmigrated database succeeded")
	}
	if _, err := run(t, "", env, "migrate", "up", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "a-long-password\n", env, "users", "create", "--email", "ada@example.test", "--password-stdin", "--database-url", db); err != nil {
		t.Fatalf("users create: %v %s", err, out)
	}
	backup := filepath.Join(dir, "backup.db")
	if out, err := run(t, "", env, "backup", "--to", backup, "--database-url", db); err != nil || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: %v %s", err, out)
	}
	if out, err := run(t, "", env, "users", "list", "--database-url", "sqlite://"+backup); err != nil || !strings.Contains(out, "ada@example.test") {
		t.Errorf("the backup: %v %s", err, out)
	}
	if _, err := run(t, "", env, "backup", "--to", backup, "--database-url", db); err == nil {
		t.Error("backup overwrote a file")
	}
}

// TestCLIChangesAreAudited: every change made at the command line goes
// through the operator service and is in the audit log under the OS user
// who made it; a command that fails records nothing.
func TestCLIChangesAreAudited(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	env := map[string]string{"GATEHOUSE_SECRETS": strings.Repeat("k", 40)}
	if _, err := run(t, "", env, "migrate", "up", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	actor := ops.CLIActor().Name
	if !strings.HasPrefix(actor, "cli:") || actor == "cli:" {
		t.Fatalf("CLI actor %q", actor)
	}
	latest := func() []string {
		t.Helper()
		out, err := run(t, "", env, "audit", "list", "--limit", "1", "--database-url", db)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 {
			return nil
		}
		return strings.Fields(lines[1])
	}
	steps := []struct {
		stdin string
		args  []string
		event string // "" : the command fails and records nothing
	}{
		{"a-long-password\n", []string{"users", "create", "--email", "ann@example.com", "--password-stdin"}, "user.created"},
		{"another-password\n", []string{"users", "set-password", "--email", "ann@example.com", "--password-stdin"}, "user.password_set"},
		{`{"name": "Ann"}`, []string{"users", "set-profile", "--email", "ann@example.com"}, "user.profile_set"},
		{"", []string{"users", "reset-factors", "--email", "ann@example.com"}, "user.factors_reset"},
		{"", []string{"users", "disable", "--email", "ann@example.com"}, "user.disabled_set"},
		{"", []string{"users", "enable", "--email", "ann@example.com"}, "user.disabled_set"},
		{"", []string{"users", "disable", "--email", "nobody@example.com"}, ""},
		{"another-password\n", []string{"users", "set-password", "--email", "nobody@example.com", "--password-stdin"}, ""},
		{"", []string{"clients", "create", "--id", "web", "--name", "Web", "--redirect-uri", "https://app.example/cb"}, "client.created"},
		{"", []string{"clients", "create", "--id", "web2", "--name", "Web", "--redirect-uri", "http://app.example/cb"}, ""},
		{"", []string{"clients", "update", "web", "--name", "Web 2"}, "client.updated"},
		{"", []string{"clients", "rotate-secret", "web"}, "client.secret_rotated"},
		{"", []string{"clients", "delete", "web"}, "client.deleted"},
		{"", []string{"admin-keys", "create", "--name", "ci", "--role", "users:read"}, "admin_key.created"},
		{"", []string{"keys", "rotate", "--alg", "RS256"}, "key.rotated"},
		{"", []string{"keys", "rotate", "--alg", "HS1"}, ""},
		{"", []string{"users", "delete", "--email", "ann@example.com"}, "user.deleted"},
	}
	for _, s := range steps {
		before := latest()
		_, err := run(t, s.stdin, env, append(s.args, "--database-url", db)...)
		got := latest()
		if s.event == "" {
			if err == nil {
				t.Errorf("%v succeeded", s.args)
			}
			if strings.Join(got, " ") != strings.Join(before, " ") {
				t.Errorf("%v failed but was audited: %v", s.args, got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
		if len(got) < 4 || got[1] != s.event || got[3] != actor {
			t.Errorf("%v: latest audit event %v, want %s by %s", s.args, got, s.event, actor)
		}
	}
}

// TestEmailSendTest: `email send-test` reaches a real SMTP server with the
// configured credentials (the password from the environment) and says
// what went wrong when it cannot.
func TestEmailSendTest(t *testing.T) {
	srv := mailtest.Start(t, "")
	env := map[string]string{"GATEHOUSE_EMAIL_HOST": "127.0.0.1", "GATEHOUSE_EMAIL_PORT": strconv.Itoa(srv.Port), "GATEHOUSE_EMAIL_FROM": "gatehouse <no-reply@localhost>",
		"GATEHOUSE_EMAIL_USERNAME": mailtest.Username, "GATEHOUSE_EMAIL_PASSWORD": "env:TEST_SMTP_PASSWORD", "TEST_SMTP_PASSWORD": mailtest.Password,
		"GATEHOUSE_EMAIL_TLS": "none", "GATEHOUSE_ISSUER": "http://localhost:8080"}
	out, err := run(t, "", env, "email", "send-test", "--to", "ops@example.com")
	if err != nil || !strings.Contains(out, "sent to ops@example.com") {
		t.Fatalf("send-test: %v\n%s", err, out)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].To[0] != "ops@example.com" || got[0].Header.Get("Subject") != "gatehouse test message" {
		t.Fatalf("received %+v", got)
	}
	env["TEST_SMTP_PASSWORD"] = "wrong"
	if _, err := run(t, "", env, "email", "send-test", "--to", "ops@example.com"); err == nil || !strings.Contains(err.Error(), "not sent through 127.0.0.1") {
		t.Fatalf("wrong password: %v", err)
	}
	env["GATEHOUSE_EMAIL_HOST"] = ""
	if _, err := run(t, "", env, "email", "send-test", "--to", "ops@example.com"); err == nil || !strings.Contains(err.Error(), "email.host is not set") {
		t.Fatalf("no host: %v", err)
	}
}

// TestCLISendLinks: `users send-reset` and `users send-verification` queue
// the mail in the outbox (a running server delivers it) when mail is
// configured, and say why not otherwise.
func TestCLISendLinks(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	if _, err := run(t, "", nil, "migrate", "up", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "a-long-password\n", nil, "users", "create", "--email", "ann@example.com", "--password-stdin", "--database-url", db); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", nil, "users", "send-reset", "--email", "ann@example.com", "--database-url", db); err == nil || !strings.Contains(err.Error(), "email.host") {
		t.Fatalf("without mail: %v", err)
	}
	env := map[string]string{"GATEHOUSE_EMAIL_HOST": "smtp.example.test", "GATEHOUSE_EMAIL_FROM": "no-reply@example.test", "GATEHOUSE_ISSUER": "https://id.example.test"}
	for _, cmd := range []string{"send-reset", "send-verification"} {
		if out, err := run(t, "", env, "users", cmd, "--email", "ann@example.com", "--database-url", db); err != nil || !strings.Contains(out, "outbox") {
			t.Fatalf("%s: %v %s", cmd, err, out)
		}
	}
	if out, err := run(t, "", env, "users", "invite", "--email", "Newcomer@example.com", "--name", "New", "--database-url", db); err != nil || !strings.Contains(out, "invited newcomer@example.com") {
		t.Fatalf("invite: %v %s", err, out)
	}
	st, err := sqlstore.Open(context.Background(), db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.ListMail(context.Background(), 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("outbox: %+v %v", all, err)
	}
	var list []storage.Mail
	for _, m := range all {
		if m.To == "newcomer@example.com" {
			if !strings.Contains(m.Text, "https://id.example.test/account/invite?token=") {
				t.Fatalf("invitation: %s", m.Text)
			}
			continue
		}
		list = append(list, m)
	}
	if len(list) != 2 || list[0].To != "ann@example.com" {
		t.Fatalf("outbox: %+v %v", list, err)
	}
	if all := list[0].Text + list[1].Text; !strings.Contains(all, "https://id.example.test/account/reset?token=") || !strings.Contains(all, "https://id.example.test/account/verify?token=") {
		t.Fatalf("links: %s", all)
	}
}
