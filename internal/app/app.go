// Package app assembles gatehouse from a configuration and its
// dependencies (the store, a clock, a logger, an HTTP client for upstream
// providers): keys, the sign-in steps, the flow engine, the account pages,
// the protocol, the operator service and the admin API, health endpoints and
// middleware; and it owns their lifecycle (App.Run serves the listeners and
// runs the background jobs under one errgroup, and joins them on shutdown).
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/backup"
	"github.com/gatehouse-id/gatehouse/authn/email"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/authn/totp"
	"github.com/gatehouse-id/gatehouse/consent"
	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/netguard"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/internal/tracing"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/provider/backchannel"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// App is an assembled server.
type App struct {
	// Handler serves every public endpoint, wrapped in the middleware.
	Handler http.Handler
	// Mux is the bare router, for extra routes (the --dev callback page).
	Mux      *http.ServeMux
	Pages    *templates.Renderer
	Keys     *keys.Manager
	Provider *provider.Provider
	// Admin serves the admin API (for the admin listener only).
	Admin http.Handler
	// Mail queues email in the durable outbox (nil: no email.host and not
	// --dev, so nothing can be sent).
	Mail *mail.Outbox

	store    storage.Store
	cfg      config.Config
	log      *slog.Logger
	clock    func() time.Time
	mailer   *mail.Deliverer
	logouts  *backchannel.Notifier
	draining atomic.Bool // shutting down: /readyz answers 503
}

// Deps are what the server takes from its surroundings.
type Deps struct {
	// Store is the database (required).
	Store storage.Store
	// Log receives the server's logs (default: slog.Default()).
	Log *slog.Logger
	// Clock is read for every time the server decides by: sessions, flows,
	// consent, attempts, keys, audit events, garbage collection (default
	// time.Now; tests freeze it). fosite reads its own for the token
	// lifetimes it stamps.
	Clock func() time.Time
	// HTTPClient reaches upstream identity providers (default:
	// federation.NewHTTPClient()).
	HTTPClient *http.Client
}

// New builds the server. cfg must have been validated.
func New(ctx context.Context, cfg config.Config, d Deps) (*App, error) {
	st, log, clock := d.Store, cmp.Or(d.Log, slog.Default()), d.Clock
	if st == nil {
		return nil, errors.New("app: no store")
	}
	if clock == nil {
		clock = time.Now
	}
	if d.HTTPClient == nil {
		d.HTTPClient = federation.NewHTTPClient()
	}
	cipher, err := KeyCipher(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	km, err := keys.NewManager(ctx, st, cipher, keys.Options{
		Algs: cfg.Keys.Algorithms, RotationPeriod: cfg.Keys.RotationPeriod.Duration, PrePublish: cfg.Keys.PrePublication.Duration,
		MaxTokenLifetime: max(cfg.Lifetimes.IDToken.Duration, cfg.Lifetimes.AccessToken.Duration) + time.Minute, Log: log,
		HMACLifetime: max(cfg.Lifetimes.RefreshToken.Duration, cfg.Lifetimes.AccessToken.Duration, cfg.Lifetimes.AuthorizeCode.Duration) + time.Minute,
		Now:          clock,
	})
	if err != nil {
		return nil, err
	}
	csrfKey, err := km.Secret(ctx, "csrf_hmac")
	if err != nil {
		return nil, err
	}
	backupKey, err := km.Secret(ctx, "backup_code_hmac")
	if err != nil {
		return nil, err
	}
	pairwiseKey, err := km.Secret(ctx, "pairwise_subject_hmac")
	if err != nil {
		return nil, err
	}
	logouts := backchannel.New(backchannel.Options{Store: st, Keys: km, Issuer: cfg.Issuer, PairwiseKey: pairwiseKey,
		HTTP: netguard.Client("backchannel_logout_uri", cfg.Dev), Now: clock, Log: log, GiveUpAfter: cfg.Logout.BackchannelGiveUpAfter.Duration,
		Audit: func(ctx context.Context, typ, subject, clientID string, details map[string]string) {
			if err := st.AppendAudit(ctx, storage.AuditEvent{ID: httpx.RandomString(16), At: clock().UTC(), Type: typ, Actor: "system", Subject: subject,
				ClientID: clientID, Details: details}); err != nil {
				log.Error("audit", "type", typ, "err", err)
			}
		}})
	// From here on, ending a browser session in any way tells its clients
	// (back-channel logout); raw is the store itself.
	raw := st
	st = backchannel.EndingSessions(st, logouts)
	ups, err := upstreams(cfg, federation.Deps{HTTP: d.HTTPClient, Log: log, Now: clock})
	if err != nil {
		return nil, err
	}
	pages, err := templates.New(cfg.TemplatesDir)
	if err != nil {
		return nil, err
	}
	sender, err := MailSender(cfg, log)
	if err != nil {
		return nil, err
	}
	var mailer *mail.Deliverer
	var outbox *mail.Outbox
	if sender != nil {
		issuer, _ := url.Parse(cfg.Issuer)
		// A claim outlives an attempt (bounded by email.timeout) with room to
		// spare, and lapses soon after a crash.
		mailer = mail.NewDeliverer(mail.Options{Store: st, Sender: sender, Domain: issuer.Hostname(), Now: clock, Log: log,
			GiveUpAfter: cfg.Email.GiveUpAfter.Duration, Lease: 2*cfg.Email.Timeout.Duration + 10*time.Second})
		outbox = mail.NewOutbox(st, clock, mailer)
	}
	kit := web.New(web.Options{Store: st, Pages: pages, CSRFKey: csrfKey, Secure: cfg.HTTPS(), SessionLifetime: cfg.Lifetimes.Session.Duration,
		Issuer: cfg.Issuer, Clients: st, Log: log, Now: clock})
	hasher := password.NewHasher(cfg.Authn.PasswordConcurrency, cfg.Authn.PasswordQueue, 0)
	// The sign-in steps; adding a way to sign in is adding one here.
	steps := []authn.Authenticator{
		password.Step{Users: st, Hasher: hasher, Now: clock, Log: log, RequireVerified: cfg.Accounts.RequireVerifiedEmail},
		totp.Step{Store: st, Cipher: cipher, Now: clock},
		backup.Step{Store: st, Key: backupKey, Now: clock},
	}
	var passkeys *passkey.Step
	if rpID, origins := cfg.WebAuthnRP(); rpID != "" {
		if passkeys, err = passkey.New(passkey.Config{RPID: rpID, Origins: origins}, st, clock); err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		steps = append(steps, passkeys)
	}
	// The mail of account links and of email sign-in, nil without an outbox.
	var linkMailer *account.Mailer
	if outbox != nil {
		linkMailer = &account.Mailer{Mail: outbox, Pages: pages, Issuer: cfg.Issuer, Product: cfg.Email.ProductName}
	}
	var emailLogin *consent.EmailLogin
	if cfg.Authn.EmailLogin && linkMailer != nil {
		key, err := km.Secret(ctx, "email_login_hmac")
		if err != nil {
			return nil, err
		}
		emailLogin = &consent.EmailLogin{Step: email.Step{Key: key, Now: clock}, Mail: *linkMailer}
		steps = append(steps, emailLogin.Step)
	}
	attempts := attempt.New(st, clock)
	recoverLink, signUpLink := "", ""
	if outbox != nil {
		recoverLink = account.PathRecover
		if cfg.RegistrationMode() == "open" {
			signUpLink = account.PathSignUp
		}
	}
	cs, err := consent.New(consent.Options{
		Store: st, Links: st, Web: kit, Attempts: attempts, Steps: steps, CSRFKey: csrfKey, Secure: cfg.HTTPS(),
		ConsentLifetime: cfg.Lifetimes.Consent.Duration, FlowLifetime: cfg.Lifetimes.LoginFlow.Duration, Log: log,
		Cipher: cipher, PairwiseKey: pairwiseKey, RequireMFA: cfg.Authn.RequireMFA, Upstreams: ups, Issuer: cfg.Issuer, Now: clock,
		RecoverLink: recoverLink, SignUpLink: signUpLink, EmailLogin: emailLogin,
	})
	if err != nil {
		return nil, err
	}
	prov, err := provider.New(provider.Options{
		Issuer: cfg.Issuer, Store: provider.StoresOf(st), Keys: km, Interactor: cs, Pages: pages, Log: log, Now: clock,
		Cipher: cipher, PairwiseKey: pairwiseKey, RefreshGrace: cfg.Lifetimes.RefreshTokenGrace.Duration,
		AccessTokenFormat: cfg.AccessToken.Format, ClientCredentialsFormat: cfg.AccessToken.ClientCredentialsFormat, AccessTokenAlg: cfg.AccessToken.Algorithm, TimeOrderedTokens: cfg.Keys.TimeOrderedTokens,
		Registration: registrationMode(cfg), InitialAccessToken: cfg.Registration.InitialAccessToken,
		MaxAssertionLifetime: cfg.ClientAuth.MaxAssertionLifetime.Duration, PKCERequired: cfg.PKCE.Required, AllowUnboundCodes: cfg.PKCE.AllowUnbound,
		RegistrationPolicy: provider.RegistrationPolicy{AllowedScopes: cfg.Registration.AllowedScopes,
			AllowedGrantTypes: cfg.Registration.AllowedGrantTypes, AllowAudience: cfg.Registration.AllowAudience},
		AllowPrivateJWKSURI: cfg.Dev, BackchannelLogout: true,
		Lifetimes: provider.Lifetimes{AccessToken: cfg.Lifetimes.AccessToken.Duration, RefreshToken: cfg.Lifetimes.RefreshToken.Duration,
			IDToken: cfg.Lifetimes.IDToken.Duration, AuthorizeCode: cfg.Lifetimes.AuthorizeCode.Duration},
	})
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, u := range ups {
		names[u.ID] = u.Name
	}
	acct := account.NewPages(account.PageOptions{Web: kit, Store: st, SignIn: cs, Passkeys: passkeys, Cipher: cipher,
		BackupCodeKey: backupKey, TOTPIssuer: cfg.Authn.TOTPIssuer, UpstreamNames: names,
		ReauthenticateAfter: cfg.Authn.ReauthenticateAfter.Duration, CanMail: outbox != nil, Log: log, Now: clock})
	mux := http.NewServeMux()
	prov.Register(mux)
	cs.Register(mux)
	acct.Register(mux)
	account.NewSettings(account.SettingsOptions{Web: kit, Store: st, SignIn: cs, Hasher: hasher, Mail: outbox, Pages: pages, Issuer: cfg.Issuer,
		Product: cfg.Email.ProductName, ReauthenticateAfter: cfg.Authn.ReauthenticateAfter.Duration, Log: log, Now: clock}).Register(mux)
	account.NewActivity(account.ActivityOptions{Web: kit, Store: st, SignIn: cs, ReauthenticateAfter: cfg.Authn.ReauthenticateAfter.Duration,
		Log: log, Now: clock}).Register(mux)
	if signUpLink != "" {
		account.NewSignUp(account.SignUpOptions{Web: kit, Store: st, Mail: outbox, Pages: pages, Hasher: hasher, Issuer: cfg.Issuer,
			Product: cfg.Email.ProductName, Log: log, Now: clock}).Register(mux)
	}
	if outbox != nil {
		account.NewEmailChange(account.EmailOptions{Web: kit, Store: st, SignIn: cs, Mail: outbox, Pages: pages, Issuer: cfg.Issuer,
			Product: cfg.Email.ProductName, ReauthenticateAfter: cfg.Authn.ReauthenticateAfter.Duration, Log: log, Now: clock}).Register(mux)
		account.NewRecovery(account.RecoveryOptions{Web: kit, Store: st, Mail: outbox, Pages: pages, Hasher: hasher, Issuer: cfg.Issuer,
			Product: cfg.Email.ProductName, Log: log, Now: clock}).Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	if cfg.Dev {
		mux.HandleFunc("GET "+PathDevMail, devMailbox(st, pages, log))
	}
	a := &App{store: raw, cfg: cfg, log: log, clock: clock, Mail: outbox, mailer: mailer, logouts: logouts}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "gatehouse OpenID Provider\nissuer: %s\ndiscovery: %s%s\n", cfg.Issuer, cfg.Issuer, provider.PathDiscovery)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if err := pages.Render(w, http.StatusNotFound, "error", httpx.Nonce(r.Context()), map[string]string{"Title": "Not found", "Message": "There is no page at this address."}); err != nil {
			log.Error("render", "err", err)
		}
	})
	ms, _ := raw.(metrics.Store)
	met := metrics.New(ms)
	met.CounterFunc("gatehouse_password_hashes_total", "Password hashes computed (argon2id or bcrypt), failed and unknown-account logins included.",
		func() float64 { n, _ := hasher.Counts(); return float64(n) })
	met.CounterFunc("gatehouse_password_hashes_refused_total", "Password checks refused with 503 because too many were running or waiting.",
		func() float64 { _, n := hasher.Counts(); return float64(n) })
	if mailer != nil {
		outboxMetrics(met, "gatehouse_mail", "Messages", "(to the SMTP server, or the development mailbox)", "(a permanent refusal, or email.give_up_after passed)",
			mailer.Counts, mailer.Waiting)
	}
	outboxMetrics(met, "gatehouse_backchannel_logout", "Back-channel logout tokens", "", "(refused, or logout.backchannel_give_up_after passed; each audited)",
		logouts.Counts, logouts.Waiting)
	trusted, err := httpx.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	handler := tracing.Handler(httpx.Log(log, httpx.RealIP(trusted, httpx.Secure(cfg.HTTPS(), httpx.MaxBytes(1<<20, httpx.CleanInput(met.Instrument(tracing.Route(mux))))))))
	operator := ops.New(st, ops.Options{Keys: km, EnabledAlgs: cfg.Keys.Algorithms, Dev: cfg.Dev, Sectors: clientspec.SectorClient(cfg.Dev), Now: clock, Mailer: linkMailer})
	adm := admin.New(admin.Options{Ops: operator, Keys: st, Log: log, Profiling: cfg.Admin.Pprof, Metrics: met.Handler()})
	a.Handler, a.Mux, a.Pages, a.Keys, a.Provider = handler, mux, pages, km, prov
	a.Admin = httpx.Log(log, httpx.RealIP(trusted, httpx.Secure(false, httpx.MaxBytes(1<<20, httpx.CleanInput(adm.Handler())))))
	return a, nil
}

// KeyCipher builds the key-encryption cipher from the configured secrets or,
// under --dev only, from a secret generated once and kept in the database.
func KeyCipher(ctx context.Context, cfg config.Config, st storage.KeyStore, log *slog.Logger) (*keys.Cipher, error) {
	if len(cfg.Secrets) > 0 {
		secrets := make([][]byte, len(cfg.Secrets))
		for i, s := range cfg.Secrets {
			secrets[i] = []byte(s)
		}
		return keys.NewCipher(secrets)
	}
	if !cfg.Dev {
		if _, err := st.GetSecret(ctx, keys.DevSecretName); err == nil {
			return nil, errors.New("secrets: this database was made by serve --dev, whose key-encryption secret is stored in it: add --dev to read it (or set GATEHOUSE_SECRETS for a production database)")
		}
		return nil, errors.New("secrets: set GATEHOUSE_SECRETS")
	}
	sec, err := st.PutSecretIfAbsent(ctx, storage.Secret{Name: keys.DevSecretName, Value: []byte(httpx.RandomString(48)), CreatedAt: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	log.Warn("DEVELOPMENT MODE: the key-encryption secret is stored in the database next to the keys it protects; never use --dev in production")
	return keys.NewCipher([][]byte{sec.Value})
}

// registrationMode is open under --dev unless configured, off otherwise.
func registrationMode(cfg config.Config) string {
	switch {
	case cfg.Registration.Mode != "":
		return cfg.Registration.Mode
	case cfg.Dev:
		return "open"
	}
	return "off"
}

// outboxMetrics exports a durable outbox's counts as prefix_sent_total,
// _failed_total and _abandoned_total, and its backlog (every replica's) as
// prefix_waiting.
func outboxMetrics(met *metrics.Metrics, prefix, what, sentNote, abandonedNote string, counts func() (sent, failed, abandoned int64),
	waiting func(context.Context) (int64, error)) {
	met.CounterFunc(prefix+"_sent_total", strings.TrimSpace(what+" delivered "+sentNote)+".",
		func() float64 { n, _, _ := counts(); return float64(n) })
	met.CounterFunc(prefix+"_failed_total", "Delivery attempts that failed (each is retried with back-off or given up).",
		func() float64 { _, n, _ := counts(); return float64(n) })
	met.CounterFunc(prefix+"_abandoned_total", strings.TrimSpace(what+" given up "+abandonedNote)+".",
		func() float64 { _, _, n := counts(); return float64(n) })
	met.GaugeFunc(prefix+"_waiting", what+" in the outbox not yet delivered nor given up, on every replica.",
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := waiting(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		})
}
