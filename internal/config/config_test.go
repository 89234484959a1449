package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // substring naming the field; "" = valid
	}{
		{"dev defaults", func(c *Config) { c.Dev = true; c.DatabaseURL = "sqlite://x.db" }, ""},
		{"production with https and a secret", func(c *Config) {
			c.Issuer, c.DatabaseURL, c.Secrets = "https://id.example.com", "postgres://db/gh", []string{secret}
		}, ""},
		{"no secret outside dev", func(c *Config) { c.DatabaseURL = "sqlite://x.db" }, "GATEHOUSE_SECRETS"},
		{"short secret", func(c *Config) { c.DatabaseURL, c.Secrets = "sqlite://x.db", []string{"short"} }, "secrets[0]"},
		{"http issuer off localhost", func(c *Config) {
			c.Issuer, c.DatabaseURL, c.Secrets = "http://id.example.com", "sqlite://x.db", []string{secret}
		}, "http is only allowed"},
		{"http issuer on 127.0.0.1", func(c *Config) {
			c.Issuer, c.DatabaseURL, c.Secrets = "http://127.0.0.1:9000", "sqlite://x.db", []string{secret}
		}, ""},
		{"trailing slash", func(c *Config) { c.Dev, c.DatabaseURL, c.Issuer = true, "sqlite://x.db", "http://localhost:8080/" }, "trailing slash"},
		{"issuer with query", func(c *Config) { c.Dev, c.DatabaseURL, c.Issuer = true, "sqlite://x.db", "https://id.example.com?x=1" }, "query"},
		{"relative issuer", func(c *Config) { c.Dev, c.DatabaseURL, c.Issuer = true, "sqlite://x.db", "/id" }, "absolute"},
		{"no database", func(c *Config) { c.Dev = true }, "database_url"},
		{"bad listen", func(c *Config) { c.Dev, c.DatabaseURL, c.Listen = true, "sqlite://x.db", "8080" }, "listen"},
		{"code lifetime too long", func(c *Config) {
			c.Dev, c.DatabaseURL = true, "sqlite://x.db"
			c.Lifetimes.AuthorizeCode.Duration = time.Hour
		}, "lifetimes.authorize_code"},
		{"bad log level", func(c *Config) { c.Dev, c.DatabaseURL, c.LogLevel = true, "sqlite://x.db", "loud" }, "log_level"},
		{"bad access token format", func(c *Config) { c.Dev, c.DatabaseURL, c.AccessToken.Format = true, "sqlite://x.db", "paseto" }, "access_token.format"},
		{"bad client_credentials format", func(c *Config) {
			c.Dev, c.DatabaseURL, c.AccessToken.ClientCredentialsFormat = true, "sqlite://x.db", "JWT"
		}, "access_token.client_credentials_format"},
		{"opaque client_credentials tokens", func(c *Config) {
			c.Dev, c.DatabaseURL, c.AccessToken.ClientCredentialsFormat = true, "sqlite://x.db", "opaque"
		}, ""},
		{"client_credentials tokens as access_token.format", func(c *Config) {
			c.Dev, c.DatabaseURL, c.AccessToken.ClientCredentialsFormat = true, "sqlite://x.db", ""
		}, ""},
		{"unbound codes need pkce.required public", func(c *Config) { c.Dev, c.DatabaseURL, c.PKCE.AllowUnbound = true, "sqlite://x.db", true }, "pkce.allow_unbound"},
		{"unbound codes under public", func(c *Config) {
			c.Dev, c.DatabaseURL, c.PKCE.Required, c.PKCE.AllowUnbound = true, "sqlite://x.db", "public", true
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte("issuer: https://file.example.com\nlisten: 0.0.0.0:9000\nlifetimes:\n  access_token: 15m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_ISSUER": "https://env.example.com", "GATEHOUSE_SECRETS": " a , b ,", "GATEHOUSE_LIFETIMES_ID_TOKEN": "5m",
		"GATEHOUSE_KEYS_ROTATION_PERIOD": "48h", "GATEHOUSE_KEYS_PRE_PUBLICATION": "2h", "GATEHOUSE_ADMIN_LISTEN": "off", "GATEHOUSE_KEYS_ALGORITHMS": "RS256, ES256"}
	c, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://env.example.com" || c.Listen != "0.0.0.0:9000" || c.Lifetimes.AccessToken.Duration != 15*time.Minute ||
		c.Lifetimes.IDToken.Duration != 5*time.Minute || len(c.Secrets) != 2 || c.Secrets[1] != "b" || c.Keys.RotationPeriod.Duration != 48*time.Hour ||
		c.Keys.PrePublication.Duration != 2*time.Hour || c.Admin.Listen != "off" || len(c.Keys.Algorithms) != 2 || c.Keys.Algorithms[1] != "ES256" {
		t.Fatalf("Load = %+v", c)
	}
	if err := os.WriteFile(path, []byte("isuer: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "isuer") {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if _, err := Load("", func(k string) string { return map[string]string{"GATEHOUSE_DEV": "maybe"}[k] }); err == nil {
		t.Fatal("bad boolean accepted")
	}
}

func TestHardeningSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"defaults", nil, true},
		{"trusted proxies", map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7"}, true},
		{"a bad proxy range", map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/33"}, false},
		{"audit kept a day", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "24h"}, true},
		{"audit kept an hour", map[string]string{"GATEHOUSE_AUDIT_RETENTION": "1h"}, false},
		{"machine registration", map[string]string{"GATEHOUSE_REGISTRATION_ALLOWED_GRANT_TYPES": "authorization_code,client_credentials"}, true},
		{"password grant by registration", map[string]string{"GATEHOUSE_REGISTRATION_ALLOWED_GRANT_TYPES": "password"}, false},
		{"password hashing bounds", map[string]string{"GATEHOUSE_AUTHN_PASSWORD_CONCURRENCY": "4", "GATEHOUSE_AUTHN_PASSWORD_QUEUE": "16"}, true},
		{"too many hashes at once", map[string]string{"GATEHOUSE_AUTHN_PASSWORD_CONCURRENCY": "1000"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"GATEHOUSE_DEV": "true", "GATEHOUSE_DATABASE_URL": "sqlite://x.db"}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := Load("", func(k string) string { return env[k] })
			if err == nil {
				err = c.Validate()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestEnvLists: comma-separated list variables, spaces trimmed and empty
// items dropped; registration lists also split on spaces.
func TestEnvLists(t *testing.T) {
	env := map[string]string{"GATEHOUSE_KEYS_ALGORITHMS": "RS256, ES256,,", "GATEHOUSE_TRUSTED_PROXIES": " 10.0.0.0/8 ,127.0.0.1",
		"GATEHOUSE_SECRETS": "one-secret,two-secret", "GATEHOUSE_AUTHN_WEBAUTHN_ORIGINS": "https://a.example",
		"GATEHOUSE_REGISTRATION_ALLOWED_SCOPES": "openid profile,email", "GATEHOUSE_REGISTRATION_ALLOWED_GRANT_TYPES": "authorization_code"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]string{"RS256 ES256": c.Keys.Algorithms, "10.0.0.0/8 127.0.0.1": c.TrustedProxies,
		"one-secret two-secret": c.Secrets, "https://a.example": c.Authn.WebAuthnOrigins, "openid profile email": c.Registration.AllowedScopes,
		"authorization_code": c.Registration.AllowedGrantTypes} {
		if strings.Join(got, " ") != name {
			t.Errorf("got %q, want %q", got, name)
		}
	}
}
