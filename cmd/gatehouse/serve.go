package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/buildinfo"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/internal/tracing"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/templates"
)

func newServe(g *globals) *cobra.Command {
	var issuer, listen, adminListen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the authorization server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if issuer != "" {
				cfg.Issuer = issuer
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if adminListen != "" {
				cfg.Admin.Listen = adminListen
			}
			if cfg.Dev {
				cfg.Issuer = devIssuer(cfg)
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&issuer, "issuer", "", "issuer URL (env GATEHOUSE_ISSUER; default http://localhost:8080)")
	cmd.Flags().StringVar(&listen, "listen", "", "HOST:PORT to listen on (env GATEHOUSE_LISTEN; default 127.0.0.1:8080)")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "HOST:PORT of the admin API, or off (env GATEHOUSE_ADMIN_LISTEN; default 127.0.0.1:8081)")
	return cmd
}

// devIssuer is the development server's issuer: the configured one, or,
// when only the listen address was changed, http://localhost on its port
// (browsers allow passkeys on localhost, not on an IP address).
func devIssuer(cfg config.Config) string {
	def := config.Default()
	if cfg.Issuer != def.Issuer || cfg.Listen == def.Listen {
		return cfg.Issuer
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil || port == "0" {
		return cfg.Issuer
	}
	switch host {
	case "", "127.0.0.1", "0.0.0.0", "::", "::1", "localhost":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// demo credentials of `serve --dev`; printed at start, never used without --dev.
const (
	demoEmail        = "demo@example.com"
	demoPassword     = "demo-password"
	demoClientID     = "demo-client"
	demoClientSecret = "demo-client-secret-for-local-development-only"
	devCallbackPath  = "/dev/callback"
)

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// serve runs the server until ctx is cancelled.
// serveGCPercent is the garbage collector's target while serving, unless
// GOGC says otherwise. The server's live heap is small (tens of MiB), so
// collecting at five times it instead of Go's default of twice costs about
// 15 MiB and gave 5–15 % more client_credentials tokens/s on PostgreSQL at
// concurrency 8–32 (the collector was a tenth of the token endpoint's CPU).
const serveGCPercent = 400

// serveMemoryLimit is the collector's soft memory limit while serving, unless
// GOMEMLIMIT says otherwise: with the high GC target above, a burst of
// password hashes (19 MiB of garbage each) would otherwise let the heap grow
// to five times its peak before a collection. The limit leaves room for the
// hashes the password gate lets run at once (one per CPU), so it never makes
// the collector run continuously.
func serveMemoryLimit() int64 {
	return 96<<20 + int64(runtime.GOMAXPROCS(0))*40<<20
}

func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit())
	}
	log := newLogger(stderr, cfg.LogLevel)
	stopTracing, err := tracing.Setup(ctx, tracing.Config{Exporter: cfg.Tracing.Exporter, Endpoint: cfg.Tracing.Endpoint, Insecure: cfg.Tracing.Insecure,
		SampleRatio: cfg.Tracing.SampleRatio, BatchTimeout: cfg.Tracing.BatchTimeout.Duration, ServiceName: "gatehouse", Version: buildinfo.Get().Version})
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(fctx); err != nil {
			log.Warn("tracing: spans not flushed", "err", err)
		}
	}()
	st, err := openStore(ctx, cfg, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer st.Close()

	a, err := app.New(ctx, cfg, app.Deps{Store: st, Log: log})
	if err != nil {
		return err
	}
	mux, pages := a.Mux, a.Pages

	var devURL string
	if cfg.Dev {
		if devURL, err = setupDev(ctx, cfg, st, a.Keys, mux, pages); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.TLS.CertFile != "" {
		certs, err := httpx.NewCertReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile, time.Second, func(err error) {
			log.Error("tls: the renewed certificate does not load; still serving the previous one", "err", err)
		})
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, certs.TLSConfig())
	}
	listeners := app.Listeners{Public: ln}
	adminAddr := "off"
	if cfg.Admin.Listen != "off" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil && cfg.Dev {
			// A development server must not fail because another one (or
			// anything else) holds the admin port: it takes a free one.
			log.Warn("admin port taken; listening on a free port", "wanted", cfg.Admin.Listen, "err", err)
			aln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener on %s: %w (set admin.listen or --admin-listen, or off)", cfg.Admin.Listen, err)
		}
		adminAddr = aln.Addr().String()
		listeners.Admin = aln
		log.Info("admin API listening", "listen", adminAddr)
	}
	log.Info("gatehouse started", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "database", st.Dialect(), "version", buildinfo.Get().Version, "commit", buildinfo.Get().Commit)
	if cfg.Dev {
		printDevBanner(stdout, cfg, adminAddr, devURL)
	} else {
		fmt.Fprintf(stdout, "gatehouse is listening on %s (issuer %s)\n", ln.Addr(), cfg.Issuer)
	}
	// Serves until ctx is done; the background jobs are joined before the
	// deferred Close of the store.
	if err := a.Run(ctx, listeners); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// setupDev creates the demo user and client once and mounts the development
// callback page; it returns a ready-to-open authorization URL.
func setupDev(ctx context.Context, cfg config.Config, st *sqlstore.Store, km *keys.Manager, mux *http.ServeMux, pages *templates.Renderer) (string, error) {
	o := ops.New(st, ops.Options{EnabledAlgs: cfg.Keys.Algorithms, Dev: true})
	setup := ops.Actor{Name: "dev-setup"}
	if _, err := st.GetUserByEmail(ctx, demoEmail); errors.Is(err, storage.ErrNotFound) {
		if _, err := o.Users.Create(ctx, setup, demoEmail, "Demo User", demoPassword); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	redirect := cfg.Issuer + devCallbackPath
	c, err := st.GetClient(ctx, demoClientID)
	if errors.Is(err, storage.ErrNotFound) {
		c, _, err = o.Clients.Create(ctx, setup, clientspec.Spec{ID: demoClientID, Name: "Demo App", Secret: demoClientSecret, RedirectURIs: []string{redirect},
			PostLogoutRedirectURIs: []string{cfg.Issuer + "/"}, GrantTypes: []string{"authorization_code", "refresh_token"}})
		if err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if len(c.RedirectURIs) == 0 || c.RedirectURIs[0] != redirect {
		return "", fmt.Errorf("the demo client in this database redirects to %v, not %s (the issuer changed); delete gatehouse-dev.db or the demo-client", c.RedirectURIs, redirect)
	}
	// The verifier is kept in the database with the demo client, so the
	// printed URL's code can be redeemed after a restart too.
	raw, err := km.Secret(ctx, "dev_callback_code_verifier")
	if err != nil {
		return "", err
	}
	verifier := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {demoClientID}, "response_type": {"code"}, "scope": {"openid profile email offline_access"},
		"redirect_uri": {redirect}, "state": {httpx.RandomString(12)}, "nonce": {httpx.RandomString(12)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	mux.HandleFunc("GET "+devCallbackPath, func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query()
		data := map[string]string{"Error": p.Get("error"), "Description": p.Get("error_description")}
		if p.Get("error") == "" {
			data["Curl"] = fmt.Sprintf("curl -s -u %s:%s \\\n  -d grant_type=authorization_code \\\n  -d code=%s \\\n  -d redirect_uri=%s \\\n  -d code_verifier=%s \\\n  %s%s",
				demoClientID, demoClientSecret, shellQuote(p.Get("code")), shellQuote(redirect), verifier, cfg.Issuer, provider.PathToken)
		}
		_ = pages.Render(w, http.StatusOK, "dev_callback", httpx.Nonce(r.Context()), data)
	})
	return cfg.Issuer + provider.PathAuthorize + "?" + q.Encode(), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printDevBanner(w io.Writer, cfg config.Config, adminAddr, authURL string) {
	mailbox := cfg.Issuer + app.PathDevMail + "  (the mail gatehouse sends, kept here under --dev)"
	if cfg.Email.Host != "" {
		mailbox = fmt.Sprintf("mail goes through %s:%d", cfg.Email.Host, cfg.Email.Port)
	}
	fmt.Fprintf(w, `
gatehouse is running at %s  (DEVELOPMENT MODE: never use --dev in production)
  admin API:    %s
  database:     %s
  discovery:    %s%s
  account page: %s/account  (passkeys, authenticator app, backup codes)
  mailbox:      %s
  demo user:    %s / %s
  demo client:  %s / %s

Open this URL in a browser, sign in as the demo user and approve:

  %s

`, cfg.Issuer, adminAddr, cfg.DatabaseURL, cfg.Issuer, provider.PathDiscovery, cfg.Issuer, mailbox, demoEmail, demoPassword, demoClientID, demoClientSecret, authURL)
}
