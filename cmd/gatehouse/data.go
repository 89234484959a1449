package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/consent"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
)

func newMigrate(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "apply or inspect database migrations"}
	run := func(fn func(context.Context, *sqlstore.Store) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("no database: set --database-url or GATEHOUSE_DATABASE_URL")
			}
			st, err := sqlstore.Open(cmd.Context(), cfg.DatabaseURL, sqlstore.Options{})
			if err != nil {
				return err
			}
			defer st.Close()
			return fn(cmd.Context(), st)
		}
	}
	status := func(ctx context.Context, st *sqlstore.Store, w io.Writer) error {
		cur, latest, err := st.SchemaStatus(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "database: %s\nschema version: %d\nlatest version: %d\n", st.Dialect(), cur, latest)
		return nil
	}
	cmd.AddCommand(&cobra.Command{
		Use: "up", Short: "apply every pending migration", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, a []string) error {
			return run(func(ctx context.Context, st *sqlstore.Store) error {
				if err := st.Migrate(ctx); err != nil {
					return err
				}
				return status(ctx, st, c.OutOrStdout())
			})(c, a)
		},
	}, &cobra.Command{
		Use: "status", Short: "show the schema version", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, a []string) error {
			return run(func(ctx context.Context, st *sqlstore.Store) error { return status(ctx, st, c.OutOrStdout()) })(c, a)
		},
	}, &cobra.Command{
		Use: "down-to VERSION", Short: "roll back to a schema version", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			v, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("VERSION %q: want a schema version number", a[0])
			}
			return run(func(ctx context.Context, st *sqlstore.Store) error {
				if err := st.MigrateDownTo(ctx, v); err != nil {
					return err
				}
				return status(ctx, st, c.OutOrStdout())
			})(c, a)
		},
	})
	return cmd
}

func newGC(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "gc", Short: "remove expired tokens, flows, sessions and consents", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withStore(cmd.Context(), func(st *sqlstore.Store) error {
				n, err := st.GarbageCollect(cmd.Context(), time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d expired rows\n", n)
				return nil
			})
		},
	}
}

// readPassword reads a password from standard input (one line or all of it).
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), consent.MaxPasswordLength+2))
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}

func newUsers(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "manage local user accounts"}
	var email, name string
	var stdin bool
	create := &cobra.Command{
		Use: "create", Short: "create a user (password from standard input)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !stdin {
				return errors.New("pass the password on standard input with --password-stdin")
			}
			if !strings.Contains(email, "@") {
				return fmt.Errorf("--email %q: not an email address", email)
			}
			pw, err := readPassword(c.InOrStdin())
			if err != nil {
				return err
			}
			hash, err := consent.HashPassword(pw)
			if err != nil {
				return err
			}
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				u, err := createUser(c.Context(), st, email, name, hash)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "created user %s (sub %s)\n", u.Email, u.Subject)
				return nil
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "email address (required)")
	create.Flags().StringVar(&name, "name", "", "display name")
	create.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	_ = create.MarkFlagRequired("email")

	var spEmail string
	var spStdin bool
	setPassword := &cobra.Command{
		Use: "set-password", Short: "set a user's password (from standard input)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !spStdin {
				return errors.New("pass the password on standard input with --password-stdin")
			}
			pw, err := readPassword(c.InOrStdin())
			if err != nil {
				return err
			}
			hash, err := consent.HashPassword(pw)
			if err != nil {
				return err
			}
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				u, err := st.GetUserByEmail(c.Context(), spEmail)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no user with email %s", spEmail)
				} else if err != nil {
					return err
				}
				_, err = st.UpdateUser(c.Context(), u.Subject, func(u storage.User) (storage.User, error) {
					u.PasswordHash, u.UpdatedAt = hash, time.Now().UTC()
					return u, nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "password set for %s\n", u.Email)
				return nil
			})
		},
	}
	setPassword.Flags().StringVar(&spEmail, "email", "", "email address (required)")
	setPassword.Flags().BoolVar(&spStdin, "password-stdin", false, "read the password from standard input")
	_ = setPassword.MarkFlagRequired("email")

	list := &cobra.Command{
		Use: "list", Short: "list users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				users, err := st.ListUsers(c.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SUBJECT\tEMAIL\tNAME\tDISABLED\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", u.Subject, u.Email, u.Name, u.Disabled, u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	cmd.AddCommand(create, setPassword, list)
	return cmd
}

// createUser stores a new verified local account.
func createUser(ctx context.Context, st storage.UserStore, email, name, hash string) (storage.User, error) {
	now := time.Now().UTC()
	u := storage.User{Subject: httpx.RandomString(16), Email: strings.ToLower(strings.TrimSpace(email)), EmailVerified: true, Name: name,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return u, fmt.Errorf("a user with email %s already exists", u.Email)
		}
		return u, err
	}
	return u, nil
}

// clientJSON is the CLI's JSON view of a client (RFC 7591 member names).
type clientJSON struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	FirstParty              bool     `json:"first_party"`
	IDTokenAlg              string   `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenFormat       string   `json:"access_token_format,omitempty"`
	CreatedAt               int64    `json:"client_id_issued_at"`
}

func toClientJSON(c storage.Client, secret string) clientJSON {
	out := clientJSON{ClientID: c.ID, ClientSecret: secret, ClientName: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, Scope: strings.Join(c.Scopes, " "), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		FirstParty: c.FirstParty, IDTokenAlg: c.IDTokenSignedResponseAlg, AccessTokenFormat: c.AccessTokenFormat, CreatedAt: c.CreatedAt.Unix()}
	if secret != "" {
		zero := int64(0)
		out.ClientSecretExpiresAt = &zero
	}
	return out
}

// clientSpec is what `clients create` asks for.
type clientSpec struct {
	ID, Name, AuthMethod, Secret string
	RedirectURIs, PostLogout     []string
	GrantTypes, Scopes           []string
	Public, FirstParty           bool
	IDTokenAlg                   string
	AccessTokenFormat            string
	JWKS, AuthSigningAlg         string
	// EnabledAlgs are the configured signing algorithms.
	EnabledAlgs []string
}

var knownGrants = map[string]bool{"authorization_code": true, "refresh_token": true, "client_credentials": true}
var knownMethods = map[string]bool{"client_secret_basic": true, "client_secret_post": true, "private_key_jwt": true, "none": true}

// validateRedirectURI applies the registration rules: absolute, no fragment,
// no javascript:/data:, https unless loopback, custom schemes only for
// public (native) clients.
func validateRedirectURI(raw string, public bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("redirect URI %q: must be an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q: must not contain a fragment", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file":
		return fmt.Errorf("redirect URI %q: scheme %s is not allowed", raw, u.Scheme)
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q: has no host", raw)
		}
	case "http":
		if !config.IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http is only allowed for loopback (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if !public {
			return fmt.Errorf("redirect URI %q: custom schemes are only for native (--public) clients", raw)
		}
	}
	return nil
}

// buildClient validates a spec and returns the client and its secret (if any).
func buildClient(s clientSpec) (storage.Client, string, error) {
	if strings.TrimSpace(s.Name) == "" {
		return storage.Client{}, "", errors.New("--name: required")
	}
	if len(s.GrantTypes) == 0 {
		s.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, gt := range s.GrantTypes {
		if !knownGrants[gt] {
			return storage.Client{}, "", fmt.Errorf("--grant-type %q: use authorization_code, refresh_token or client_credentials", gt)
		}
	}
	usesCode := false
	for _, gt := range s.GrantTypes {
		usesCode = usesCode || gt == "authorization_code"
	}
	if usesCode && len(s.RedirectURIs) == 0 {
		return storage.Client{}, "", errors.New("--redirect-uri: at least one is required for the authorization_code grant")
	}
	for _, u := range append(append([]string{}, s.RedirectURIs...), s.PostLogout...) {
		if err := validateRedirectURI(u, s.Public); err != nil {
			return storage.Client{}, "", err
		}
	}
	if s.AuthMethod == "" {
		s.AuthMethod = "client_secret_basic"
		if s.Public {
			s.AuthMethod = "none"
		}
	}
	if !knownMethods[s.AuthMethod] {
		return storage.Client{}, "", fmt.Errorf("--token-endpoint-auth-method %q: use client_secret_basic, client_secret_post, private_key_jwt or none", s.AuthMethod)
	}
	if (s.AuthMethod == "private_key_jwt") != (s.JWKS != "") {
		return storage.Client{}, "", errors.New("--jwks-file goes with --token-endpoint-auth-method private_key_jwt, and private_key_jwt needs it")
	}
	if s.JWKS != "" {
		if err := validateClientJWKS(s.JWKS); err != nil {
			return storage.Client{}, "", fmt.Errorf("--jwks-file: %w", err)
		}
		switch s.AuthSigningAlg {
		case "":
			s.AuthSigningAlg = "RS256"
		case "RS256", "ES256", "PS256":
		default:
			return storage.Client{}, "", fmt.Errorf("--token-endpoint-auth-signing-alg %q: use RS256, ES256 or PS256", s.AuthSigningAlg)
		}
	}
	if s.Public != (s.AuthMethod == "none") {
		return storage.Client{}, "", errors.New("--public goes with --token-endpoint-auth-method none, and only with it")
	}
	if s.Public {
		for _, gt := range s.GrantTypes {
			if gt == "client_credentials" {
				return storage.Client{}, "", errors.New("a public client cannot use client_credentials")
			}
		}
	}
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	if s.AccessTokenFormat != "" && s.AccessTokenFormat != "opaque" && s.AccessTokenFormat != "jwt" {
		return storage.Client{}, "", fmt.Errorf("--access-token-format %q: use opaque or jwt", s.AccessTokenFormat)
	}
	if s.IDTokenAlg != "" && !slices.Contains(append([]string{"RS256"}, s.EnabledAlgs...), s.IDTokenAlg) {
		return storage.Client{}, "", fmt.Errorf("--id-token-signed-response-alg %q: not enabled (enabled: RS256 %v; see keys.algorithms)", s.IDTokenAlg, s.EnabledAlgs)
	}
	if s.ID == "" {
		s.ID = httpx.RandomString(16)
	}
	now := time.Now().UTC()
	c := storage.Client{ID: s.ID, Name: s.Name, RedirectURIs: s.RedirectURIs, PostLogoutRedirectURIs: s.PostLogout, GrantTypes: s.GrantTypes,
		ResponseTypes: []string{"code"}, Scopes: s.Scopes, Audience: []string{}, TokenEndpointAuthMethod: s.AuthMethod, Public: s.Public,
		FirstParty: s.FirstParty, IDTokenSignedResponseAlg: s.IDTokenAlg, AccessTokenFormat: s.AccessTokenFormat, CreatedAt: now, UpdatedAt: now}
	secret := ""
	c.JWKS, c.TokenEndpointAuthSigningAlg = s.JWKS, s.AuthSigningAlg
	if !s.Public && s.AuthMethod != "private_key_jwt" {
		secret = s.Secret
		if secret == "" {
			secret = httpx.RandomString(32) // 256 bits
		}
		c.SecretHash = provider.HashClientSecret(secret)
	}
	return c, secret, nil
}

func newClients(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "manage OAuth clients"}
	var s clientSpec
	var output, jwksFile string
	create := &cobra.Command{
		Use: "create", Short: "register a client; prints its secret once", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "json" && output != "text" {
				return fmt.Errorf("--output %q: use json or text", output)
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			s.EnabledAlgs = cfg.Keys.Algorithms
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("--jwks-file: %w", err)
				}
				s.JWKS = string(b)
			}
			cl, secret, err := buildClient(s)
			if err != nil {
				return err
			}
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				if err := st.CreateClient(c.Context(), cl); err != nil {
					if errors.Is(err, storage.ErrAlreadyExists) {
						return fmt.Errorf("a client with id %s already exists", cl.ID)
					}
					return err
				}
				if output == "json" {
					enc := json.NewEncoder(c.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(toClientJSON(cl, secret))
				}
				fmt.Fprintf(c.OutOrStdout(), "client_id:     %s\n", cl.ID)
				if secret != "" {
					fmt.Fprintf(c.OutOrStdout(), "client_secret: %s   (shown once; store it now)\n", secret)
				}
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&s.Name, "name", "", "client name shown on the consent page (required)")
	f.StringVar(&s.ID, "id", "", "client id (default: generated)")
	f.StringArrayVar(&s.RedirectURIs, "redirect-uri", nil, "redirect URI (repeatable)")
	f.StringArrayVar(&s.PostLogout, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	f.StringArrayVar(&s.GrantTypes, "grant-type", nil, "grant type (repeatable; default authorization_code and refresh_token)")
	f.StringArrayVar(&s.Scopes, "scope", nil, "allowed scope (repeatable; default openid profile email offline_access)")
	f.BoolVar(&s.Public, "public", false, "public client (no secret; PKCE only)")
	f.BoolVar(&s.FirstParty, "first-party", false, "first-party client: skip the consent page")
	f.StringVar(&s.AuthMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post or none")
	f.StringVar(&output, "output", "text", "output format: text or json")
	f.StringVar(&s.IDTokenAlg, "id-token-signed-response-alg", "", "ID token algorithm (one of keys.algorithms; default RS256)")
	f.StringVar(&s.AccessTokenFormat, "access-token-format", "", "opaque or jwt (RFC 9068); default: the server's access_token.format")
	f.StringVar(&jwksFile, "jwks-file", "", "the client's public JWK set (private_key_jwt)")
	f.StringVar(&s.AuthSigningAlg, "token-endpoint-auth-signing-alg", "", "algorithm of the client's assertions: RS256 (default), ES256 or PS256")

	list := &cobra.Command{
		Use: "list", Short: "list clients", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				cls, err := st.ListClients(c.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT_ID\tNAME\tAUTH\tGRANTS\tREDIRECT_URIS")
				for _, cl := range cls {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Name, cl.TokenEndpointAuthMethod, strings.Join(cl.GrantTypes, ","), strings.Join(cl.RedirectURIs, " "))
				}
				return tw.Flush()
			})
		},
	}
	del := &cobra.Command{
		Use: "delete CLIENT_ID", Short: "delete a client and revoke its tokens", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				if err := st.DeleteClient(c.Context(), a[0]); err != nil {
					if errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("no client with id %s", a[0])
					}
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "deleted client %s\n", a[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func newAudit(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "read the audit log"}
	var subject string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "list audit events, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				events, err := st.ListAudit(c.Context(), subject, time.Time{}, limit)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tTYPE\tSUBJECT\tCLIENT\tIP\tDETAILS")
				for _, e := range events {
					details, _ := json.Marshal(e.Details)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Type, e.Subject, e.ClientID, e.IP, details)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&subject, "subject", "", "only events of this user (sub)")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many events (1-1000)")
	cmd.AddCommand(list)
	return cmd
}

// validateClientJWKS accepts a JWK set of public signing keys only.
func validateClientJWKS(raw string) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return fmt.Errorf("not a JWK set: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the JWK set has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return fmt.Errorf("key %q has private members; register public keys only", k.KeyID)
		}
		if !k.Valid() || (k.Use != "" && k.Use != "sig") {
			return fmt.Errorf("key %q is not a valid signing key", k.KeyID)
		}
	}
	return nil
}
