// Package config loads gatehouse's configuration: one YAML file, every field
// overridable by a GATEHOUSE_* environment variable and by flags, validated at
// start-up with messages that name the field and the fix.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Config is the whole configuration.
type Config struct {
	// Issuer is the OpenID issuer URL, byte-identical in discovery and tokens.
	Issuer string `yaml:"issuer"`
	// Listen is the HOST:PORT of the public listener.
	Listen string `yaml:"listen"`
	// DatabaseURL is sqlite:///abs/path.db, sqlite://relative.db or postgres://….
	DatabaseURL string `yaml:"database_url"`
	// Secrets are key-encryption secrets: the first seals, all open.
	Secrets []string `yaml:"secrets"`
	// Dev turns on the development defaults of `serve --dev`.
	Dev bool `yaml:"dev"`
	// AutoMigrate applies pending migrations at start-up.
	AutoMigrate bool `yaml:"auto_migrate"`
	// TemplatesDir overrides the embedded templates with files from a directory.
	TemplatesDir string `yaml:"templates_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Database tunes the connection pool.
	Database Database `yaml:"database"`
	// Lifetimes of tokens, sessions and flows.
	Lifetimes Lifetimes `yaml:"lifetimes"`
	// Keys configures signing keys.
	Keys Keys `yaml:"keys"`
	// AccessToken configures access tokens.
	AccessToken AccessToken `yaml:"access_token"`
	// Registration configures Dynamic Client Registration.
	Registration Registration `yaml:"registration"`
	// Admin configures the admin API listener.
	Admin Admin `yaml:"admin"`
	// Authn configures sign-in: second factors, passkeys, re-authentication.
	Authn Authn `yaml:"authn"`
	// Federation configures upstream identity providers.
	Federation Federation `yaml:"federation"`
	// Audit configures the audit log.
	Audit Audit `yaml:"audit"`
	// ClientAuth configures client authentication.
	ClientAuth ClientAuth `yaml:"client_auth"`
	// PKCE configures when PKCE is required.
	PKCE PKCE `yaml:"pkce"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// Forwarded / X-Forwarded-For headers name the client's address; from
	// anyone else those headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS, when set, has the public listener serve https itself instead
	// of behind a TLS-terminating proxy.
	TLS TLS `yaml:"tls"`
	// Tracing exports OpenTelemetry spans (off by default).
	Tracing Tracing `yaml:"tracing"`
	// Shutdown bounds a stop (SIGTERM, SIGINT).
	Shutdown Shutdown `yaml:"shutdown"`
	// Email is how mail leaves (through the durable outbox).
	Email Email `yaml:"email"`
	// Accounts says who may create an account, and how.
	Accounts Accounts `yaml:"accounts"`
	// Logout tunes single logout.
	Logout Logout `yaml:"logout"`
}

// Logout tunes single logout.
type Logout struct {
	// BackchannelGiveUpAfter is how long a back-channel logout token is
	// retried before it is given up (and audited).
	BackchannelGiveUpAfter Duration `yaml:"backchannel_give_up_after"`
}

// Accounts configures self-service accounts.
type Accounts struct {
	// Registration is off (operators create accounts), open (anyone signs
	// up from the login page) or invite (operators invite addresses, which
	// choose their password from the mailed link; no sign-up page); "" is
	// off, or open under --dev. Invitations work in every mode with mail.
	Registration string `yaml:"registration"`
	// RequireVerifiedEmail refuses a password sign-in until the account's
	// email address is confirmed through the mailed link.
	RequireVerifiedEmail bool `yaml:"require_verified_email"`
}

// RegistrationMode is the registration in effect: "" is off, or open
// under --dev.
func (c Config) RegistrationMode() string {
	if c.Accounts.Registration == "" {
		if c.Dev {
			return "open"
		}
		return "off"
	}
	return c.Accounts.Registration
}

// Email configures mail delivery over SMTP.
type Email struct {
	// Host and Port are the submission server's; no host: no SMTP (under
	// --dev mail is kept and shown at /dev/mail instead).
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// From is the sender, e.g. "gatehouse <no-reply@example.com>".
	From string `yaml:"from"`
	// Username and Password authenticate (AUTH PLAIN or LOGIN); the
	// password as env:NAME keeps it out of the file.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is starttls, implicit (port 465) or none (a local relay).
	TLS     string   `yaml:"tls"`
	Timeout Duration `yaml:"timeout"`
	// GiveUpAfter is how long a message is retried before it is given up.
	GiveUpAfter Duration `yaml:"give_up_after"`
	// ProductName names the service in mail ("Your Acme password").
	ProductName string `yaml:"product_name"`
}

// Shutdown says how a stopping server lets go of its clients.
type Shutdown struct {
	// Drain is how long it keeps serving after /readyz turns 503, for load
	// balancers that only see readiness (Kubernetes' preStop covers the
	// Service's endpoints).
	Drain Duration `yaml:"drain"`
	// Timeout bounds how long in-flight requests may take to finish.
	Timeout Duration `yaml:"timeout"`
}

// Tracing configures OpenTelemetry tracing.
type Tracing struct {
	// Exporter is "" (off), otlp-http or otlp-grpc.
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector: http(s)://host:4318 for otlp-http,
	// host:4317 for otlp-grpc.
	Endpoint string `yaml:"endpoint"`
	// Insecure sends otlp-grpc without TLS.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (requests
	// that arrive sampled stay sampled).
	SampleRatio float64 `yaml:"sample_ratio"`
	// BatchTimeout bounds how long a finished span waits to be sent.
	BatchTimeout Duration `yaml:"batch_timeout"`
}

// TLS is the public listener's certificate: PEM files, read again when
// they change (a renewed certificate needs no restart).
type TLS struct {
	// CertFile holds the certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile holds its private key.
	KeyFile string `yaml:"key_file"`
}

// Federation configures "Login with …" upstream identity providers.
type Federation struct {
	// Connectors are shown on the login page in this order.
	Connectors []Connector `yaml:"connectors"`
}

// Connector is one upstream identity provider. Config holds the fields of
// its type (see the federation packages); the server decodes it strictly.
type Connector struct {
	// ID names the connector in URLs and in stored links; never change it
	// once users have linked accounts.
	ID string `yaml:"id"`
	// Type is oidc, google or github.
	Type string `yaml:"type"`
	// Name is shown on the button ("Google").
	Name string `yaml:"name"`
	// AllowSignup creates a local account at the first login through this
	// connector; otherwise only linked accounts may use it.
	AllowSignup bool `yaml:"allow_signup"`
	// StoreTokens keeps the upstream's tokens, sealed; by default they are
	// used once and dropped.
	StoreTokens bool      `yaml:"store_tokens"`
	Config      yaml.Node `yaml:"config"`
}

// ConnectorTypes are the known connector types.
var ConnectorTypes = []string{"oidc", "google", "github"}

// Authn configures how users sign in.
type Authn struct {
	// RequireMFA makes every sign-in to a client use two factors.
	RequireMFA bool `yaml:"require_mfa"`
	// ReauthenticateAfter is how old a login may be for account changes.
	ReauthenticateAfter Duration `yaml:"reauthenticate_after"`
	// WebAuthnRPID is the passkey relying-party id (default: the issuer's host).
	WebAuthnRPID string `yaml:"webauthn_rp_id"`
	// WebAuthnOrigins are the origins passkey ceremonies may come from
	// (default: the issuer's origin).
	WebAuthnOrigins []string `yaml:"webauthn_origins"`
	// TOTPIssuer is the name authenticator apps show (default: gatehouse).
	TOTPIssuer string `yaml:"totp_issuer"`
	// PasswordConcurrency bounds the password hashes computed at once
	// (0: one per CPU); PasswordQueue bounds how many more may wait (0:
	// eight per slot). Each hash takes 19 MiB; past the queue a login is
	// answered 503 with Retry-After.
	PasswordConcurrency int `yaml:"password_concurrency"`
	PasswordQueue       int `yaml:"password_queue"`
	// EmailLogin offers "Email me a sign-in link" on the login page: a
	// link and a code to the account's address, a first factor (amr email).
	EmailLogin bool `yaml:"email_login"`
}

// PKCE configures when PKCE is required.
type PKCE struct {
	// Required is "all" (default: every client, every request) or
	// "public" (public clients; a confidential client's OpenID Connect
	// request without PKCE must then carry a nonce, RFC 9700 §2.1.1).
	Required string `yaml:"required"`
	// AllowUnbound, under "public" only, also issues a code to a
	// confidential client's OpenID Connect request with neither PKCE nor a
	// nonce: such a code is then protected by client authentication alone
	// (the OpenID Foundation's Basic plan asks for it).
	AllowUnbound bool `yaml:"allow_unbound"`
}

// ClientAuth configures client authentication.
type ClientAuth struct {
	// MaxAssertionLifetime bounds how far ahead a private_key_jwt client
	// assertion may expire (default 10m).
	MaxAssertionLifetime Duration `yaml:"max_assertion_lifetime"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long events are kept (default 2160h, 90 days).
	Retention Duration `yaml:"retention"`
}

// Admin configures the admin API.
type Admin struct {
	// Listen is the HOST:PORT of the admin listener; "off" disables it.
	Listen string `yaml:"listen"`
	// Pprof serves Go profiles at /debug/pprof/ on the admin listener
	// (admin keys only).
	Pprof bool `yaml:"pprof"`
}

// Registration configures Dynamic Client Registration (RFC 7591/7592).
type Registration struct {
	// Mode is off, open, or token (an initial access token is required);
	// empty means open under --dev and off otherwise.
	Mode string `yaml:"mode"`
	// InitialAccessToken authorizes registrations in token mode.
	InitialAccessToken string `yaml:"initial_access_token"`
	// AllowedScopes are the scopes a registered client may have (default:
	// openid profile email offline_access).
	AllowedScopes []string `yaml:"allowed_scopes"`
	// AllowedGrantTypes are the grant types a registered client may use
	// (default: authorization_code refresh_token).
	AllowedGrantTypes []string `yaml:"allowed_grant_types"`
	// AllowAudience lets a registered client name audiences (default: no;
	// only operators grant audiences).
	AllowAudience bool `yaml:"allow_audience"`
}

// AccessToken configures access tokens.
type AccessToken struct {
	// Format is the default: opaque (HMAC) or jwt (RFC 9068); clients may override it.
	Format string `yaml:"format"`
	// ClientCredentialsFormat is the default for tokens issued to a client
	// for itself (the client_credentials grant), which carry no user: jwt
	// (stateless, no write per token) or opaque; empty: Format. A
	// client's own format overrides it.
	ClientCredentialsFormat string `yaml:"client_credentials_format"`
	// Algorithm signs JWT access tokens; it must be one of keys.algorithms.
	Algorithm string `yaml:"algorithm"`
}

// Keys configures the signing-key lifecycle.
type Keys struct {
	// Algorithms enabled for signing; RS256 is always on.
	Algorithms []string `yaml:"algorithms"`
	// RotationPeriod is how long a key signs before its successor takes over (0: manual only).
	RotationPeriod Duration `yaml:"rotation_period"`
	// PrePublication is how long a new key is in the JWKS before it signs.
	PrePublication Duration `yaml:"pre_publication"`
	// TimeOrderedTokens issues opaque tokens (codes, refresh and access
	// tokens) whose stored key begins with their issue time, so new rows
	// append to the token index instead of landing on a random page of it.
	// Every version reads both kinds; turn it on once no replica older than
	// this release runs (an older one would refuse the new tokens).
	TimeOrderedTokens bool `yaml:"time_ordered_tokens"`
}

// Database tunes the connection pool (PostgreSQL; SQLite uses one connection).
type Database struct {
	MaxOpenConns    int      `yaml:"max_open_conns"`
	MaxIdleConns    int      `yaml:"max_idle_conns"`
	ConnMaxLifetime Duration `yaml:"conn_max_lifetime"`
}

// Lifetimes of the things gatehouse issues.
type Lifetimes struct {
	AccessToken   Duration `yaml:"access_token"`
	RefreshToken  Duration `yaml:"refresh_token"`
	IDToken       Duration `yaml:"id_token"`
	AuthorizeCode Duration `yaml:"authorize_code"`
	Session       Duration `yaml:"session"`
	Consent       Duration `yaml:"consent"`
	LoginFlow     Duration `yaml:"login_flow"`
	// RefreshTokenGrace replays a rotation's response to a retry with the
	// same refresh token for this long (0: a retry is reuse and revokes).
	RefreshTokenGrace Duration `yaml:"refresh_token_grace"`
}

// Duration is a time.Duration written as "15m", "720h" in YAML and env.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 15m, 720h): %w", n.Line, n.Value, err)
	}
	d.Duration = v
	return nil
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Issuer:   "http://localhost:8080",
		Listen:   "127.0.0.1:8080",
		LogLevel: "info",
		Lifetimes: Lifetimes{
			AccessToken:   Duration{time.Hour},
			RefreshToken:  Duration{30 * 24 * time.Hour},
			IDToken:       Duration{time.Hour},
			AuthorizeCode: Duration{5 * time.Minute},
			Session:       Duration{14 * 24 * time.Hour},
			Consent:       Duration{180 * 24 * time.Hour},
			LoginFlow:     Duration{30 * time.Minute},
		},
		Keys:        Keys{Algorithms: []string{"RS256"}, RotationPeriod: Duration{30 * 24 * time.Hour}, PrePublication: Duration{24 * time.Hour}},
		AccessToken: AccessToken{Format: "opaque", Algorithm: "RS256"},
		Admin:       Admin{Listen: "127.0.0.1:8081"},
		Authn:       Authn{ReauthenticateAfter: Duration{5 * time.Minute}, TOTPIssuer: "gatehouse"},
		Audit:       Audit{Retention: Duration{90 * 24 * time.Hour}},
		ClientAuth:  ClientAuth{MaxAssertionLifetime: Duration{10 * time.Minute}},
		PKCE:        PKCE{Required: "all"},
		Tracing:     Tracing{SampleRatio: 1, BatchTimeout: Duration{5 * time.Second}},
		Shutdown:    Shutdown{Timeout: Duration{20 * time.Second}},
		Accounts:    Accounts{RequireVerifiedEmail: true},
		Logout:      Logout{BackchannelGiveUpAfter: Duration{24 * time.Hour}},
		Email:       Email{Port: 587, TLS: "starttls", Timeout: Duration{15 * time.Second}, GiveUpAfter: Duration{48 * time.Hour}, ProductName: "gatehouse"},
	}
}

// Load reads the YAML file at path (if not empty) over the defaults, then
// applies GATEHOUSE_* environment variables from env.
func Load(path string, env func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if env == nil {
		env = os.Getenv
	}
	return c, c.applyEnv(env)
}

// applyEnv overrides fields from GATEHOUSE_* variables.
func (c *Config) applyEnv(env func(string) string) error {
	str := map[string]*string{
		"GATEHOUSE_ISSUER":                                 &c.Issuer,
		"GATEHOUSE_LISTEN":                                 &c.Listen,
		"GATEHOUSE_DATABASE_URL":                           &c.DatabaseURL,
		"GATEHOUSE_TEMPLATES_DIR":                          &c.TemplatesDir,
		"GATEHOUSE_LOG_LEVEL":                              &c.LogLevel,
		"GATEHOUSE_ACCESS_TOKEN_FORMAT":                    &c.AccessToken.Format,
		"GATEHOUSE_ACCESS_TOKEN_CLIENT_CREDENTIALS_FORMAT": &c.AccessToken.ClientCredentialsFormat,
		"GATEHOUSE_REGISTRATION_MODE":                      &c.Registration.Mode,
		"GATEHOUSE_ADMIN_LISTEN":                           &c.Admin.Listen,
		"GATEHOUSE_REGISTRATION_INITIAL_ACCESS_TOKEN":      &c.Registration.InitialAccessToken,
		"GATEHOUSE_ACCESS_TOKEN_ALGORITHM":                 &c.AccessToken.Algorithm,
		"GATEHOUSE_AUTHN_WEBAUTHN_RP_ID":                   &c.Authn.WebAuthnRPID,
		"GATEHOUSE_AUTHN_TOTP_ISSUER":                      &c.Authn.TOTPIssuer,
		"GATEHOUSE_PKCE_REQUIRED":                          &c.PKCE.Required,
		"GATEHOUSE_TLS_CERT_FILE":                          &c.TLS.CertFile,
		"GATEHOUSE_TLS_KEY_FILE":                           &c.TLS.KeyFile,
		"GATEHOUSE_TRACING_EXPORTER":                       &c.Tracing.Exporter,
		"GATEHOUSE_TRACING_ENDPOINT":                       &c.Tracing.Endpoint,
		"GATEHOUSE_EMAIL_HOST":                             &c.Email.Host,
		"GATEHOUSE_EMAIL_FROM":                             &c.Email.From,
		"GATEHOUSE_EMAIL_USERNAME":                         &c.Email.Username,
		"GATEHOUSE_EMAIL_PASSWORD":                         &c.Email.Password,
		"GATEHOUSE_EMAIL_TLS":                              &c.Email.TLS,
		"GATEHOUSE_EMAIL_PRODUCT_NAME":                     &c.Email.ProductName,
		"GATEHOUSE_ACCOUNTS_REGISTRATION":                  &c.Accounts.Registration,
	}
	for k, p := range str {
		if v := env(k); v != "" {
			*p = v
		}
	}
	// Comma-separated lists (scopes and grant types may also use spaces).
	for k, p := range map[string]*[]string{"GATEHOUSE_KEYS_ALGORITHMS": &c.Keys.Algorithms, "GATEHOUSE_AUTHN_WEBAUTHN_ORIGINS": &c.Authn.WebAuthnOrigins,
		"GATEHOUSE_TRUSTED_PROXIES": &c.TrustedProxies, "GATEHOUSE_SECRETS": &c.Secrets,
		"GATEHOUSE_REGISTRATION_ALLOWED_SCOPES": &c.Registration.AllowedScopes, "GATEHOUSE_REGISTRATION_ALLOWED_GRANT_TYPES": &c.Registration.AllowedGrantTypes} {
		if v := env(k); v != "" {
			sep := func(r rune) bool { return r == ',' }
			if strings.HasPrefix(k, "GATEHOUSE_REGISTRATION_") {
				sep = func(r rune) bool { return r == ',' || r == ' ' }
			}
			*p = nil
			for _, item := range strings.FieldsFunc(v, sep) {
				if item = strings.TrimSpace(item); item != "" {
					*p = append(*p, item)
				}
			}
		}
	}
	if v := env("GATEHOUSE_TRACING_SAMPLE_RATIO"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("GATEHOUSE_TRACING_SAMPLE_RATIO=%q: want a number between 0 and 1", v)
		}
		c.Tracing.SampleRatio = f
	}

	bools := map[string]*bool{"GATEHOUSE_REGISTRATION_ALLOW_AUDIENCE": &c.Registration.AllowAudience, "GATEHOUSE_DEV": &c.Dev, "GATEHOUSE_AUTO_MIGRATE": &c.AutoMigrate, "GATEHOUSE_AUTHN_REQUIRE_MFA": &c.Authn.RequireMFA, "GATEHOUSE_ADMIN_PPROF": &c.Admin.Pprof, "GATEHOUSE_KEYS_TIME_ORDERED_TOKENS": &c.Keys.TimeOrderedTokens,
		"GATEHOUSE_PKCE_ALLOW_UNBOUND": &c.PKCE.AllowUnbound, "GATEHOUSE_TRACING_INSECURE": &c.Tracing.Insecure,
		"GATEHOUSE_ACCOUNTS_REQUIRE_VERIFIED_EMAIL": &c.Accounts.RequireVerifiedEmail, "GATEHOUSE_AUTHN_EMAIL_LOGIN": &c.Authn.EmailLogin}
	for k, p := range bools {
		if v := env(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", k, v)
			}
			*p = b
		}
	}
	for k, p := range map[string]*int{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS": &c.Database.MaxOpenConns, "GATEHOUSE_DATABASE_MAX_IDLE_CONNS": &c.Database.MaxIdleConns,
		"GATEHOUSE_AUTHN_PASSWORD_CONCURRENCY": &c.Authn.PasswordConcurrency, "GATEHOUSE_AUTHN_PASSWORD_QUEUE": &c.Authn.PasswordQueue,
		"GATEHOUSE_EMAIL_PORT": &c.Email.Port} {
		if v := env(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s=%q: want a non-negative number", k, v)
			}
			*p = n
		}
	}
	durs := map[string]*Duration{
		"GATEHOUSE_LIFETIMES_ACCESS_TOKEN":             &c.Lifetimes.AccessToken,
		"GATEHOUSE_LIFETIMES_REFRESH_TOKEN":            &c.Lifetimes.RefreshToken,
		"GATEHOUSE_LIFETIMES_ID_TOKEN":                 &c.Lifetimes.IDToken,
		"GATEHOUSE_LIFETIMES_AUTHORIZE_CODE":           &c.Lifetimes.AuthorizeCode,
		"GATEHOUSE_LIFETIMES_SESSION":                  &c.Lifetimes.Session,
		"GATEHOUSE_LIFETIMES_CONSENT":                  &c.Lifetimes.Consent,
		"GATEHOUSE_LIFETIMES_LOGIN_FLOW":               &c.Lifetimes.LoginFlow,
		"GATEHOUSE_LIFETIMES_REFRESH_TOKEN_GRACE":      &c.Lifetimes.RefreshTokenGrace,
		"GATEHOUSE_DATABASE_CONN_MAX_LIFETIME":         &c.Database.ConnMaxLifetime,
		"GATEHOUSE_KEYS_ROTATION_PERIOD":               &c.Keys.RotationPeriod,
		"GATEHOUSE_KEYS_PRE_PUBLICATION":               &c.Keys.PrePublication,
		"GATEHOUSE_AUTHN_REAUTHENTICATE_AFTER":         &c.Authn.ReauthenticateAfter,
		"GATEHOUSE_AUDIT_RETENTION":                    &c.Audit.Retention,
		"GATEHOUSE_CLIENT_AUTH_MAX_ASSERTION_LIFETIME": &c.ClientAuth.MaxAssertionLifetime,
		"GATEHOUSE_TRACING_BATCH_TIMEOUT":              &c.Tracing.BatchTimeout,
		"GATEHOUSE_SHUTDOWN_DRAIN":                     &c.Shutdown.Drain,
		"GATEHOUSE_SHUTDOWN_TIMEOUT":                   &c.Shutdown.Timeout,
		"GATEHOUSE_EMAIL_TIMEOUT":                      &c.Email.Timeout,
		"GATEHOUSE_EMAIL_GIVE_UP_AFTER":                &c.Email.GiveUpAfter,
		"GATEHOUSE_LOGOUT_BACKCHANNEL_GIVE_UP_AFTER":   &c.Logout.BackchannelGiveUpAfter,
	}
	for k, p := range durs {
		if v := env(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q: not a duration (use e.g. 15m, 720h)", k, v)
			}
			p.Duration = d
		}
	}
	return nil
}

// Validate checks the configuration. Without Dev it refuses unsafe settings.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("issuer %q: must be an absolute http(s) URL such as https://id.example.com", c.Issuer))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("issuer %q: must not contain a query, fragment or user info", c.Issuer))
	case strings.HasSuffix(c.Issuer, "/"):
		errs = append(errs, fmt.Errorf("issuer %q: drop the trailing slash", c.Issuer))
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		errs = append(errs, fmt.Errorf("issuer %q: http is only allowed for localhost/127.0.0.1; use https (set GATEHOUSE_ISSUER or issuer:)", c.Issuer))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: want HOST:PORT such as 127.0.0.1:8080", c.Listen))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database_url: not set; use sqlite:///var/lib/gatehouse/gatehouse.db or postgres://user@host/db (GATEHOUSE_DATABASE_URL or --database-url)"))
	}
	switch c.Accounts.Registration {
	case "", "off", "open", "invite":
	default:
		errs = append(errs, fmt.Errorf("accounts.registration %q: use off, open or invite", c.Accounts.Registration))
	}
	if m := c.RegistrationMode(); m != "off" && c.Email.Host == "" && !c.Dev {
		errs = append(errs, fmt.Errorf("accounts.registration %s: new accounts confirm their address by mail; set email.host (or use off)", m))
	}
	if c.Logout.BackchannelGiveUpAfter.Duration <= 0 {
		errs = append(errs, errors.New("logout.backchannel_give_up_after: want a positive duration, e.g. 24h"))
	}
	if c.Authn.EmailLogin && c.Email.Host == "" && !c.Dev {
		errs = append(errs, errors.New("authn.email_login: sign-in links go by mail; set email.host"))
	}
	if e := c.Email; e.Host != "" {
		switch {
		case e.Port < 1 || e.Port > 65535:
			errs = append(errs, fmt.Errorf("email.port %d: want 1 to 65535 (587 for submission with STARTTLS, 465 for implicit TLS)", e.Port))
		case e.From == "" || !strings.Contains(e.From, "@"):
			errs = append(errs, errors.New("email.from: set the sender address, e.g. \"gatehouse <no-reply@example.com>\""))
		case e.TLS != "starttls" && e.TLS != "implicit" && e.TLS != "none":
			errs = append(errs, fmt.Errorf("email.tls %q: use starttls, implicit or none", e.TLS))
		case e.Timeout.Duration <= 0 || e.GiveUpAfter.Duration <= 0:
			errs = append(errs, errors.New("email.timeout and email.give_up_after must be positive durations"))
		}
	}
	if !c.Dev {
		if len(c.Secrets) == 0 {
			errs = append(errs, errors.New("secrets: no key-encryption secret; set GATEHOUSE_SECRETS to a random string of at least 32 characters (e.g. `openssl rand -base64 48`)"))
		}
	}
	for i, s := range c.Secrets {
		if len(s) < 32 {
			errs = append(errs, fmt.Errorf("secrets[%d]: %d characters; at least 32 are required", i, len(s)))
		}
	}
	l := c.Lifetimes
	for name, d := range map[string]time.Duration{"lifetimes.access_token": l.AccessToken.Duration, "lifetimes.refresh_token": l.RefreshToken.Duration,
		"lifetimes.id_token": l.IDToken.Duration, "lifetimes.authorize_code": l.AuthorizeCode.Duration, "lifetimes.session": l.Session.Duration,
		"lifetimes.consent": l.Consent.Duration, "lifetimes.login_flow": l.LoginFlow.Duration} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", name))
		}
	}
	if l.RefreshTokenGrace.Duration < 0 || l.RefreshTokenGrace.Duration > time.Minute {
		errs = append(errs, errors.New("lifetimes.refresh_token_grace: between 0 (off) and 1m"))
	}
	if l.AuthorizeCode.Duration > 10*time.Minute {
		errs = append(errs, errors.New("lifetimes.authorize_code: at most 10m (RFC 6749 §4.1.2)"))
	}
	for _, a := range c.Keys.Algorithms {
		switch a {
		case "RS256", "ES256", "PS256", "EdDSA":
		default:
			errs = append(errs, fmt.Errorf("keys.algorithms: %q is not supported; use RS256, ES256, PS256 or EdDSA", a))
		}
	}
	if k := c.Keys; k.PrePublication.Duration <= 0 {
		errs = append(errs, errors.New("keys.pre_publication: must be positive (e.g. 24h)"))
	} else if k.RotationPeriod.Duration != 0 && k.RotationPeriod.Duration < 2*k.PrePublication.Duration {
		errs = append(errs, fmt.Errorf("keys.rotation_period: %v is shorter than twice keys.pre_publication (%v); use 0 for manual rotation only", k.RotationPeriod.Duration, k.PrePublication.Duration))
	}
	if f := c.AccessToken.Format; f != "opaque" && f != "jwt" {
		errs = append(errs, fmt.Errorf("access_token.format %q: use opaque or jwt", f))
	}
	if f := c.AccessToken.ClientCredentialsFormat; f != "" && f != "opaque" && f != "jwt" {
		errs = append(errs, fmt.Errorf("access_token.client_credentials_format %q: use opaque or jwt (empty: as access_token.format)", f))
	}
	if a := c.AccessToken.Algorithm; a != "RS256" && !slices.Contains(c.Keys.Algorithms, a) {
		errs = append(errs, fmt.Errorf("access_token.algorithm %q: not in keys.algorithms %v", a, c.Keys.Algorithms))
	}
	switch t := c.Tracing; {
	case t.Exporter != "" && t.Exporter != "otlp-http" && t.Exporter != "otlp-grpc":
		errs = append(errs, fmt.Errorf("tracing.exporter %q: use otlp-http or otlp-grpc (or leave it empty: off)", t.Exporter))
	case t.Exporter != "" && t.Endpoint == "":
		errs = append(errs, errors.New("tracing.endpoint: the collector (http://collector:4318 for otlp-http, collector:4317 for otlp-grpc)"))
	case t.SampleRatio < 0 || t.SampleRatio > 1:
		errs = append(errs, fmt.Errorf("tracing.sample_ratio %v: between 0 and 1", t.SampleRatio))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file, or neither (TLS terminated by a proxy)"))
	} else if c.TLS.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls: %w", err))
		}
	}
	if c.Admin.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			errs = append(errs, fmt.Errorf("admin.listen %q: want HOST:PORT (keep it private, e.g. 127.0.0.1:8081) or off", c.Admin.Listen))
		}
	}
	for _, g := range c.Registration.AllowedGrantTypes {
		if g != "authorization_code" && g != "refresh_token" && g != "client_credentials" {
			errs = append(errs, fmt.Errorf("registration.allowed_grant_types: %q is not a grant gatehouse serves (authorization_code, refresh_token, client_credentials)", g))
		}
	}
	switch c.Registration.Mode {
	case "", "off", "open":
	case "token":
		if len(c.Registration.InitialAccessToken) < 32 {
			errs = append(errs, errors.New("registration.initial_access_token: mode token needs a random token of at least 32 characters (GATEHOUSE_REGISTRATION_INITIAL_ACCESS_TOKEN)"))
		}
	default:
		errs = append(errs, fmt.Errorf("registration.mode %q: use off, open or token", c.Registration.Mode))
	}
	if d := c.Authn.ReauthenticateAfter.Duration; d < 30*time.Second || d > time.Hour {
		errs = append(errs, fmt.Errorf("authn.reauthenticate_after %v: use between 30s and 1h", d))
	}
	if err := c.checkWebAuthn(); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for i, fc := range c.Federation.Connectors {
		if !connectorID.MatchString(fc.ID) || seen[fc.ID] {
			errs = append(errs, fmt.Errorf("federation.connectors[%d].id %q: want a unique id of lowercase letters, digits and dashes", i, fc.ID))
		}
		seen[fc.ID] = true
		if !slices.Contains(ConnectorTypes, fc.Type) {
			errs = append(errs, fmt.Errorf("federation.connectors[%d].type %q: use one of %v", i, fc.Type, ConnectorTypes))
		}
	}
	if a := c.Authn; a.PasswordConcurrency < 0 || a.PasswordConcurrency > 256 || a.PasswordQueue < 0 || a.PasswordQueue > 4096 {
		errs = append(errs, errors.New("authn.password_concurrency / authn.password_queue: use 0 for the default, at most 256 hashes at once and 4096 waiting"))
	}
	if r := c.PKCE.Required; r != "all" && r != "public" {
		errs = append(errs, fmt.Errorf("pkce.required %q: use all (every client) or public (public clients; confidential OpenID Connect clients then bind codes with a nonce)", r))
	} else if c.PKCE.AllowUnbound && r != "public" {
		errs = append(errs, errors.New("pkce.allow_unbound needs pkce.required: public"))
	}
	if d := c.ClientAuth.MaxAssertionLifetime.Duration; d < time.Minute || d > time.Hour {
		errs = append(errs, fmt.Errorf("client_auth.max_assertion_lifetime %v: use between 1m and 1h (default 10m)", d))
	}
	if c.Audit.Retention.Duration < 24*time.Hour {
		errs = append(errs, fmt.Errorf("audit.retention %v: keep events at least 24h (default 2160h, 90 days)", c.Audit.Retention.Duration))
	}
	if _, err := httpx.ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w; list your reverse proxies' addresses or ranges, e.g. [10.0.0.0/8]", err))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: use debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

var connectorID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// IsLoopbackHost reports localhost names and loopback addresses.
func IsLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// HTTPS reports whether the issuer is served over https.
func (c *Config) HTTPS() bool { return strings.HasPrefix(c.Issuer, "https://") }

// WebAuthnRP is the passkey relying-party id and origins: the configured
// ones, or the issuer's host and origin. The id is empty (no passkeys) when
// the issuer is an IP address and none is configured.
func (c Config) WebAuthnRP() (rpID string, origins []string) {
	u, err := url.Parse(c.Issuer)
	if err != nil {
		return c.Authn.WebAuthnRPID, c.Authn.WebAuthnOrigins
	}
	rpID, origins = c.Authn.WebAuthnRPID, c.Authn.WebAuthnOrigins
	if rpID == "" && net.ParseIP(u.Hostname()) == nil {
		// Browsers refuse passkeys on IP addresses: none then.
		rpID = u.Hostname()
	}
	if len(origins) == 0 {
		origins = []string{u.Scheme + "://" + u.Host}
	}
	return rpID, origins
}

// checkWebAuthn requires the issuer's host to be the RP id or inside it.
func (c Config) checkWebAuthn() error {
	rpID, origins := c.WebAuthnRP()
	if rpID == "" {
		return nil
	}
	if net.ParseIP(rpID) != nil || strings.ContainsAny(rpID, ":/") {
		return fmt.Errorf("authn.webauthn_rp_id %q: must be a domain name (browsers refuse passkeys on IP addresses)", rpID)
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" || (u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname()))) {
			return fmt.Errorf("authn.webauthn_origins: %q is not an https origin (scheme://host[:port])", o)
		}
		if h := u.Hostname(); h != rpID && !strings.HasSuffix(h, "."+rpID) {
			return fmt.Errorf("authn.webauthn_rp_id %q: origin %s is not on that domain (the RP id must be the origin's host or a parent domain)", rpID, o)
		}
	}
	return nil
}

// Secret resolves a secret from config: "env:NAME" reads the environment
// variable NAME (so secrets stay out of files), anything else is the value.
func Secret(field, v string) (string, error) {
	if name, ok := strings.CutPrefix(v, "env:"); ok {
		s := os.Getenv(name)
		if s == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", field, name)
		}
		return s, nil
	}
	if v == "" {
		return "", fmt.Errorf("%s is required", field)
	}
	return v, nil
}
