package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/ops"
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
		Use: "gc", Short: "remove expired tokens, flows, sessions, consents and attempt counters, and audit events past audit.retention", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			return g.withStore(cmd.Context(), func(st *sqlstore.Store) error {
				n, err := app.Collect(cmd.Context(), st, cfg.Audit.Retention.Duration, time.Now())
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
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), password.MaxLength+2))
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
			pw, err := readPassword(c.InOrStdin())
			if err != nil {
				return err
			}
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.Create(c.Context(), ops.CLIActor(), email, name, pw)
				if err != nil {
					return explain(err, "user with email "+strings.ToLower(strings.TrimSpace(email)))
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
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.ByEmail(c.Context(), spEmail)
				if err != nil {
					return explain(err, "user with email "+spEmail)
				}
				if _, err := o.Users.SetPassword(c.Context(), ops.CLIActor(), u.Subject, pw); err != nil {
					return explain(err, "user with email "+spEmail)
				}
				fmt.Fprintf(c.OutOrStdout(), "password set for %s; signed out everywhere and its tokens revoked\n", u.Email)
				return nil
			})
		},
	}
	setPassword.Flags().StringVar(&spEmail, "email", "", "email address (required)")
	setPassword.Flags().BoolVar(&spStdin, "password-stdin", false, "read the password from standard input")
	_ = setPassword.MarkFlagRequired("email")

	var profEmail string
	setProfile := &cobra.Command{
		Use:   "set-profile",
		Short: "replace a user's name and OpenID Connect standard claims from a JSON document on standard input",
		Long: `Reads {"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "picture",
"website", "gender", "birthdate", "zoneinfo", "locale", "phone_number", "phone_number_verified",
"address": {"formatted", "street_address", "locality", "region", "postal_code", "country"}} from standard
input; every field is replaced. The profile, address and phone scopes release them.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var in account.ProfileUpdate
			dec := json.NewDecoder(io.LimitReader(c.InOrStdin(), 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				return fmt.Errorf("read the profile (JSON) from standard input: %w", err)
			}
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.ByEmail(c.Context(), profEmail)
				if err != nil {
					return explain(err, "user with email "+profEmail)
				}
				if _, err := o.Users.SetProfile(c.Context(), ops.CLIActor(), u.Subject, in); err != nil {
					return explain(err, "user with email "+profEmail)
				}
				fmt.Fprintf(c.OutOrStdout(), "profile set for %s\n", u.Email)
				return nil
			})
		},
	}
	setProfile.Flags().StringVar(&profEmail, "email", "", "email address (required)")
	_ = setProfile.MarkFlagRequired("email")

	var rfEmail string
	resetFactors := &cobra.Command{
		Use: "reset-factors", Short: "remove a user's passkeys, authenticator app and backup codes and sign the user out (a user who lost them)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.ByEmail(c.Context(), rfEmail)
				if err != nil {
					return explain(err, "user with email "+rfEmail)
				}
				_, removed, err := o.Users.ResetFactors(c.Context(), ops.CLIActor(), u.Subject)
				if err != nil {
					return explain(err, "user with email "+rfEmail)
				}
				fmt.Fprintf(c.OutOrStdout(), "removed %d second-factor credentials of %s and signed them out\n", removed, u.Email)
				return nil
			})
		},
	}
	resetFactors.Flags().StringVar(&rfEmail, "email", "", "email address (required)")
	_ = resetFactors.MarkFlagRequired("email")

	list := &cobra.Command{
		Use: "list", Short: "list users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				users, err := o.Users.List(c.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SUBJECT\tEMAIL\tNAME\tDISABLED\tSECOND FACTOR\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\n", u.Subject, u.Email, u.Name, u.Disabled, u.SecondFactor, u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	var invEmail, invName string
	invite := &cobra.Command{
		Use: "invite", Short: "invite an address: an account without a password, and a mailed link to choose one (7 days)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.Invite(c.Context(), ops.CLIActor(), invEmail, invName)
				if err != nil {
					return explain(err, "user with email "+strings.ToLower(strings.TrimSpace(invEmail)))
				}
				fmt.Fprintf(c.OutOrStdout(), "invited %s (sub %s); the link is in the outbox, a running server delivers it\n", u.Email, u.Subject)
				return nil
			})
		},
	}
	invite.Flags().StringVar(&invEmail, "email", "", "email address (required)")
	invite.Flags().StringVar(&invName, "name", "", "display name")
	_ = invite.MarkFlagRequired("email")
	cmd.AddCommand(create, invite, setPassword, setProfile, resetFactors, list, userByEmail(g, "disable", "disable a user: signed out everywhere, tokens revoked, no sign-in until enabled",
		func(c *cobra.Command, o *ops.Service, u storage.User) (string, error) {
			_, err := o.Users.SetDisabled(c.Context(), ops.CLIActor(), u.Subject, true)
			return "disabled %s; signed out everywhere and its tokens revoked", err
		}), userByEmail(g, "enable", "let a disabled user sign in again",
		func(c *cobra.Command, o *ops.Service, u storage.User) (string, error) {
			_, err := o.Users.SetDisabled(c.Context(), ops.CLIActor(), u.Subject, false)
			return "enabled %s", err
		}), userByEmail(g, "delete", "delete a user with its sessions, consents, credentials and tokens (the audit log keeps its events)",
		func(c *cobra.Command, o *ops.Service, u storage.User) (string, error) {
			return "deleted %s", o.Users.Delete(c.Context(), ops.CLIActor(), u.Subject)
		}), userByEmail(g, "send-reset", "mail a user a password-recovery link (a forced reset; the password stays until the link is used)",
		func(c *cobra.Command, o *ops.Service, u storage.User) (string, error) {
			return "a recovery link to %s is in the outbox; a running server delivers it", o.Users.SendRecovery(c.Context(), ops.CLIActor(), u.Subject)
		}), userByEmail(g, "send-verification", "mail a user a new link confirming its address",
		func(c *cobra.Command, o *ops.Service, u storage.User) (string, error) {
			return "a confirmation link to %s is in the outbox; a running server delivers it", o.Users.SendVerification(c.Context(), ops.CLIActor(), u.Subject)
		}))
	return cmd
}

// userByEmail is a users subcommand acting on the user --email names; do
// returns the line to print (with %s for the email).
func userByEmail(g *globals, use, short string, do func(*cobra.Command, *ops.Service, storage.User) (string, error)) *cobra.Command {
	var email string
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				u, err := o.Users.ByEmail(c.Context(), email)
				if err != nil {
					return explain(err, "user with email "+email)
				}
				line, err := do(c, o, u)
				if err != nil {
					return explain(err, "user with email "+email)
				}
				fmt.Fprintf(c.OutOrStdout(), line+"\n", u.Email)
				return nil
			})
		}}
	cmd.Flags().StringVar(&email, "email", "", "email address (required)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newClients(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "manage OAuth clients"}
	var s clientspec.Spec
	var output, jwksFile string
	var public bool
	var scopeList []string
	var secretStdin bool
	create := &cobra.Command{
		Use: "create", Short: "register a client; prints its secret once", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "json" && output != "text" {
				return fmt.Errorf("--output %q: use json or text", output)
			}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("--jwks-file: %w", err)
				}
				s.JWKS = b
			}
			if public {
				if s.TokenEndpointAuthMethod != "" && s.TokenEndpointAuthMethod != "none" {
					return errors.New("--public goes with --token-endpoint-auth-method none, and only with it")
				}
				s.TokenEndpointAuthMethod = "none"
			}
			if len(s.GrantTypes) == 0 {
				s.GrantTypes = []string{"authorization_code", "refresh_token"}
			}
			s.Scope = strings.Join(scopeList, " ")
			if strings.TrimSpace(s.Name) == "" {
				return errors.New("--name: required")
			}
			if secretStdin {
				line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("--secret-stdin: %w", err)
				}
				if s.Secret = strings.TrimRight(line, "\r\n"); len(s.Secret) < 32 {
					return errors.New("--secret-stdin: a client secret must have at least 32 characters (256 bits when random)")
				}
			}
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				cl, secret, err := o.Clients.Create(c.Context(), ops.CLIActor(), s)
				if err != nil {
					return explain(err, "client with id "+cl.ID)
				}
				if output == "json" {
					return printJSON(c.OutOrStdout(), clientspec.View(cl, secret))
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
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the client secret from standard input (moving a client from another server); default: generated")
	f.StringArrayVar(&s.RedirectURIs, "redirect-uri", nil, "redirect URI (repeatable)")
	f.StringArrayVar(&s.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	f.StringArrayVar(&s.AllowedCORSOrigins, "allowed-cors-origin", nil, "an origin besides the redirect URIs' from which browsers may call the token, revocation, introspection and userinfo endpoints (repeatable)")
	f.StringArrayVar(&s.GrantTypes, "grant-type", nil, "grant type (repeatable; default authorization_code and refresh_token)")
	f.StringArrayVar(&scopeList, "scope", nil, "allowed scope (repeatable; default openid profile email, plus offline_access with refresh_token)")
	f.BoolVar(&public, "public", false, "public client (no secret; PKCE only)")
	f.BoolVar(&s.FirstParty, "first-party", false, "first-party client: skip the consent page")
	f.StringVar(&s.Owner, "owner", "", "who is responsible for the client (team, e-mail)")
	f.BoolVar(&s.RequireMFA, "require-mfa", false, "every sign-in for this client needs two factors")
	f.BoolVar(&s.RequirePKCE, "require-pkce", false, "the client must use PKCE even where pkce.required: public would not ask it")
	f.StringVar(&s.BackchannelLogoutURI, "backchannel-logout-uri", "", "where the client receives back-channel logout tokens (https)")
	f.BoolVar(&s.BackchannelLogoutSessionRequired, "backchannel-logout-session-required", false, "back-channel logout tokens must carry the session's sid")
	f.StringVar(&s.FrontchannelLogoutURI, "frontchannel-logout-uri", "", "loaded in an iframe when a session that signed in to the client ends (https)")
	f.BoolVar(&s.FrontchannelLogoutSessionRequired, "frontchannel-logout-session-required", false, "the front-channel logout URI gets iss and sid")
	f.StringVar(&s.TokenEndpointAuthMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post, private_key_jwt or none")
	f.StringVar(&output, "output", "text", "output format: text or json")
	f.StringVar(&s.IDTokenSignedResponseAlg, "id-token-signed-response-alg", "", "ID token algorithm (one of keys.algorithms; default RS256)")
	f.StringVar(&s.AccessTokenFormat, "access-token-format", "", "opaque or jwt (RFC 9068); default: the server's access_token.format")
	f.StringVar(&jwksFile, "jwks-file", "", "the client's public JWK set (private_key_jwt)")
	f.StringVar(&s.JWKSURI, "jwks-uri", "", "where the client publishes its JWK set (private_key_jwt; https)")
	f.StringVar(&s.TokenEndpointAuthSigningAlg, "token-endpoint-auth-signing-alg", "", "algorithm of the client's assertions: RS256 (default), ES256 or PS256")
	f.StringArrayVar(&s.Audience, "audience", nil, "resource server the client may ask tokens for (repeatable)")
	f.Int64Var(&s.AccessTokenLifetime, "access-token-lifetime", 0, "seconds; shortens the server's access-token lifetime for this client")
	f.Int64Var(&s.RefreshTokenLifetime, "refresh-token-lifetime", 0, "seconds; shortens the server's refresh-token lifetime for this client")
	f.Int64Var(&s.IDTokenLifetime, "id-token-lifetime", 0, "seconds; shortens the server's ID-token lifetime for this client")
	f.StringVar(&s.LogoURI, "logo-uri", "", "https URL of the client's logo")
	f.StringVar(&s.PolicyURI, "policy-uri", "", "https URL of the client's privacy policy")
	f.StringVar(&s.TOSURI, "tos-uri", "", "https URL of the client's terms of service")
	f.StringArrayVar(&s.RequestURIs, "request-uri", nil, "https URL the client's request objects may be fetched from (request_uri; repeatable)")
	f.StringVar(&s.RequestObjectSigningAlg, "request-object-signing-alg", "", "the only algorithm accepted on the client's request objects (RS256, PS256, ES256, EdDSA; none accepts unsigned ones)")
	f.BoolVar(&s.RequireSignedRequestObject, "require-signed-request-object", false, "refuse the client's authorization requests that are not signed request objects")
	f.StringVar(&s.UserinfoSignedResponseAlg, "userinfo-signed-response-alg", "", "answer the client's userinfo requests with a JWT signed with this algorithm (one of keys.algorithms)")
	f.StringVar(&s.SubjectType, "subject-type", "", "public (default) or pairwise: the client sees each user under a subject of its own sector")
	f.StringVar(&s.SectorIdentifierURI, "sector-identifier-uri", "", "https URL of a JSON array listing the redirect URIs of a pairwise client on several hosts")

	list := &cobra.Command{
		Use: "list", Short: "list clients", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				cls, err := o.Clients.List(c.Context())
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
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				if err := o.Clients.Delete(c.Context(), ops.CLIActor(), a[0]); err != nil {
					return explain(err, "client with id "+a[0])
				}
				fmt.Fprintf(c.OutOrStdout(), "deleted client %s\n", a[0])
				return nil
			})
		},
	}
	get := &cobra.Command{
		Use: "get CLIENT_ID", Short: "show a client's registration (never its secret)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				cl, err := o.Clients.Get(c.Context(), a[0])
				if err != nil {
					return explain(err, "client with id "+a[0])
				}
				return printJSON(c.OutOrStdout(), clientspec.View(cl, ""))
			})
		},
	}
	var grace time.Duration
	rotate := &cobra.Command{
		Use: "rotate-secret CLIENT_ID", Short: "give a client a new secret (shown once); the old one works for --grace", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				secret, cl, err := o.Clients.RotateSecret(c.Context(), ops.CLIActor(), a[0], grace)
				if err != nil {
					return explain(err, "client with id "+a[0])
				}
				fmt.Fprintf(c.OutOrStdout(), "client_secret: %s   (shown once; store it now)\n", secret)
				if !cl.PreviousSecretExpiresAt.IsZero() {
					fmt.Fprintf(c.OutOrStdout(), "the previous secret works until %s\n", cl.PreviousSecretExpiresAt.Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	rotate.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the previous secret keeps working (0: stops at once)")
	cmd.AddCommand(create, list, get, newClientUpdate(g), rotate, del)
	return cmd
}

func newAudit(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "read the audit log"}
	var subject string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "list audit events, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				events, err := o.Audit.List(c.Context(), subject, limit)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tTYPE\tCOUNT\tACTOR\tSUBJECT\tCLIENT\tIP\tDETAILS")
				for _, e := range events {
					details, _ := json.Marshal(e.Details)
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Type, e.Count, cmp.Or(e.Actor, "-"), cmp.Or(e.Subject, "-"),
						cmp.Or(e.ClientID, "-"), cmp.Or(e.IP, "-"), details)
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

// newClientUpdate changes the flags given and keeps everything else,
// including the secret.
func newClientUpdate(g *globals) *cobra.Command {
	var redirects, postLogout, grants, scopes, audience []string
	var name, method, idAlg, format, jwksFile, jwksURI, logo, policy, tos, owner, bcl, fcl string
	var firstParty, requireMFA, requirePKCE, requireSigned, bclSession, fclSession bool
	var requestURIs []string
	var roAlg, uiAlg, subjectType, sector string
	var atl, rtl, itl int64
	cmd := &cobra.Command{
		Use: "update CLIENT_ID", Short: "change a client's registration (only the flags given)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			changed := c.Flags().Changed
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				updated, secret, err := o.Clients.Update(c.Context(), ops.CLIActor(), a[0], func(spec *clientspec.Spec) error {
					set := map[string]func(){
						"name": func() { spec.Name = name }, "redirect-uri": func() { spec.RedirectURIs = redirects },
						"post-logout-redirect-uri": func() { spec.PostLogoutRedirectURIs = postLogout }, "grant-type": func() { spec.GrantTypes = grants },
						"scope": func() { spec.Scope = strings.Join(scopes, " ") }, "audience": func() { spec.Audience = audience },
						"token-endpoint-auth-method": func() { spec.TokenEndpointAuthMethod = method }, "id-token-signed-response-alg": func() { spec.IDTokenSignedResponseAlg = idAlg },
						"access-token-format": func() { spec.AccessTokenFormat = format }, "jwks-uri": func() { spec.JWKSURI, spec.JWKS = jwksURI, nil },
						"logo-uri": func() { spec.LogoURI = logo }, "policy-uri": func() { spec.PolicyURI = policy }, "tos-uri": func() { spec.TOSURI = tos },
						"first-party":           func() { spec.FirstParty = firstParty },
						"access-token-lifetime": func() { spec.AccessTokenLifetime = atl }, "refresh-token-lifetime": func() { spec.RefreshTokenLifetime = rtl },
						"id-token-lifetime": func() { spec.IDTokenLifetime = itl },
						"owner":             func() { spec.Owner = owner }, "require-mfa": func() { spec.RequireMFA = requireMFA },
						"require-pkce":                         func() { spec.RequirePKCE = requirePKCE },
						"backchannel-logout-uri":               func() { spec.BackchannelLogoutURI = bcl },
						"backchannel-logout-session-required":  func() { spec.BackchannelLogoutSessionRequired = bclSession },
						"frontchannel-logout-uri":              func() { spec.FrontchannelLogoutURI = fcl },
						"frontchannel-logout-session-required": func() { spec.FrontchannelLogoutSessionRequired = fclSession },
						"request-uri":                          func() { spec.RequestURIs = requestURIs },
						"request-object-signing-alg":           func() { spec.RequestObjectSigningAlg = roAlg },
						"require-signed-request-object":        func() { spec.RequireSignedRequestObject = requireSigned },
						"userinfo-signed-response-alg":         func() { spec.UserinfoSignedResponseAlg = uiAlg },
						"subject-type":                         func() { spec.SubjectType = subjectType },
						"sector-identifier-uri":                func() { spec.SectorIdentifierURI = sector },
					}
					for flag, apply := range set {
						if changed(flag) {
							apply()
						}
					}
					if changed("jwks-file") {
						b, err := os.ReadFile(jwksFile)
						if err != nil {
							return fmt.Errorf("--jwks-file: %w", err)
						}
						spec.JWKS, spec.JWKSURI = b, ""
					}
					return nil
				})
				if err != nil {
					return explain(err, "client with id "+a[0])
				}
				return printJSON(c.OutOrStdout(), clientspec.View(updated, secret))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "client name")
	f.StringArrayVar(&redirects, "redirect-uri", nil, "redirect URIs (repeatable; replaces the list)")
	f.StringArrayVar(&postLogout, "post-logout-redirect-uri", nil, "post-logout redirect URIs (repeatable; replaces the list)")
	f.StringArrayVar(&grants, "grant-type", nil, "grant types (repeatable; replaces the list)")
	f.StringArrayVar(&scopes, "scope", nil, "allowed scopes (repeatable; replaces the list)")
	f.StringArrayVar(&audience, "audience", nil, "allowed audiences (repeatable; replaces the list)")
	f.StringVar(&method, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt or none")
	f.StringVar(&idAlg, "id-token-signed-response-alg", "", "ID token algorithm")
	f.StringVar(&format, "access-token-format", "", "opaque or jwt")
	f.StringVar(&jwksFile, "jwks-file", "", "the client's public JWK set")
	f.StringVar(&jwksURI, "jwks-uri", "", "where the client publishes its JWK set")
	f.StringVar(&logo, "logo-uri", "", "https URL of the logo")
	f.StringVar(&policy, "policy-uri", "", "https URL of the privacy policy")
	f.StringVar(&tos, "tos-uri", "", "https URL of the terms of service")
	f.BoolVar(&firstParty, "first-party", false, "first-party client: skip the consent page")
	f.StringVar(&owner, "owner", "", "who is responsible for the client")
	f.BoolVar(&requireMFA, "require-mfa", false, "every sign-in for this client needs two factors")
	f.BoolVar(&requirePKCE, "require-pkce", false, "the client must use PKCE whatever pkce.required says")
	f.StringArrayVar(&requestURIs, "request-uri", nil, "request_uris (repeatable; replaces the list)")
	f.StringVar(&roAlg, "request-object-signing-alg", "", "the only algorithm accepted on request objects (none accepts unsigned ones)")
	f.BoolVar(&requireSigned, "require-signed-request-object", false, "refuse authorization requests that are not signed request objects")
	f.StringVar(&uiAlg, "userinfo-signed-response-alg", "", "sign userinfo responses with this algorithm (empty: plain JSON)")
	f.StringVar(&subjectType, "subject-type", "", "public or pairwise (changing it changes every subject the client sees)")
	f.StringVar(&sector, "sector-identifier-uri", "", "https URL of a JSON array listing a pairwise client's redirect URIs")
	f.StringVar(&bcl, "backchannel-logout-uri", "", "back-channel logout URI (https; empty removes it)")
	f.BoolVar(&bclSession, "backchannel-logout-session-required", false, "back-channel logout tokens must carry the session's sid")
	f.StringVar(&fcl, "frontchannel-logout-uri", "", "front-channel logout URI (https; empty removes it)")
	f.BoolVar(&fclSession, "frontchannel-logout-session-required", false, "the front-channel logout URI gets iss and sid")
	f.Int64Var(&atl, "access-token-lifetime", 0, "seconds (0: the server's)")
	f.Int64Var(&rtl, "refresh-token-lifetime", 0, "seconds (0: the server's)")
	f.Int64Var(&itl, "id-token-lifetime", 0, "seconds (0: the server's)")
	return cmd
}

// explain turns an operation's error into what a command prints: a missing
// or duplicate object named by what ("client with id x"), and a
// registration error by its description.
func explain(err error, what string) error {
	var me *clientspec.MetadataError
	switch {
	case errors.As(err, &me):
		return errors.New(me.Description)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no %s", what)
	case errors.Is(err, storage.ErrAlreadyExists):
		return fmt.Errorf("a %s already exists", what)
	}
	return err
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
