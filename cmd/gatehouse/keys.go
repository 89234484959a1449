package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/backchannel"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/templates"
)

// withOps runs fn with the operator service over the configured database;
// withKeys adds the signing-key manager (it needs the key secrets).
func (g *globals) withOps(ctx context.Context, withKeys bool, fn func(*ops.Service) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	return g.withStore(ctx, func(st *sqlstore.Store) error {
		o := ops.Options{EnabledAlgs: cfg.Keys.Algorithms, Dev: cfg.Dev, Sectors: clientspec.SectorClient(cfg.Dev)}
		if cfg.Email.Host != "" || cfg.Dev {
			// Mail is queued in the outbox; a running server delivers it.
			pages, err := templates.New(cfg.TemplatesDir)
			if err != nil {
				return err
			}
			o.Mailer = &account.Mailer{Mail: mail.NewOutbox(st, time.Now, nil), Pages: pages, Issuer: cfg.Issuer, Product: cfg.Email.ProductName}
		}
		if withKeys {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			cipher, err := app.KeyCipher(ctx, cfg, st, log)
			if err != nil {
				return err
			}
			if o.Keys, err = keys.NewManager(ctx, st, cipher, keys.Options{Algs: cfg.Keys.Algorithms, RotationPeriod: cfg.Keys.RotationPeriod.Duration,
				PrePublish: cfg.Keys.PrePublication.Duration, MaxTokenLifetime: max(cfg.Lifetimes.IDToken.Duration, cfg.Lifetimes.AccessToken.Duration) + time.Minute,
				HMACLifetime: max(cfg.Lifetimes.RefreshToken.Duration, cfg.Lifetimes.AccessToken.Duration, cfg.Lifetimes.AuthorizeCode.Duration) + time.Minute, Log: log}); err != nil {
				return err
			}
		}
		// Sessions this command ends tell their clients: the logout tokens
		// are queued here and a running server delivers them.
		return fn(ops.New(backchannel.EndingSessions(st, backchannel.New(backchannel.Options{Store: st})), o))
	})
}

// parsePrivateKey reads a private JWK or a PEM (PKCS#8, PKCS#1 or SEC 1).
func parsePrivateKey(b []byte) (any, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err == nil {
		if jwk.IsPublic() {
			return nil, errors.New("the JWK has no private part")
		}
		return jwk.Key, nil
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not a private JWK or a PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

func newKeys(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "manage signing keys"}
	list := &cobra.Command{
		Use: "list", Short: "list signing keys and their schedule", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				infos, err := o.Keys.List(c.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tGEN\tSTATE\tSIGNS FROM\tRETIRES\tUNPUBLISHED")
				at := func(t time.Time) string {
					if t.IsZero() {
						return "-"
					}
					return t.Format(time.RFC3339)
				}
				for _, k := range infos {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.Generation, k.State, at(k.ActivateAt), at(k.RetireAt), at(k.DeleteAt))
				}
				return tw.Flush()
			})
		},
	}
	var alg string
	var now bool
	rotate := &cobra.Command{
		Use: "rotate", Short: "publish a new key; it signs after the pre-publication time (--now: at once)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				kid, err := o.Keys.Rotate(c.Context(), ops.CLIActor(), alg, now)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "new %s key %s\n", alg, kid)
				return nil
			})
		},
	}
	rotate.Flags().StringVar(&alg, "alg", keys.RS256, "algorithm to rotate")
	rotate.Flags().BoolVar(&now, "now", false, "sign with the new key at once (suspected compromise)")
	retire := &cobra.Command{
		Use: "retire KID", Short: "stop a key signing now; it stays published until its tokens expire", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				if err := o.Keys.Retire(c.Context(), ops.CLIActor(), a[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "retired %s\n", a[0])
				return nil
			})
		},
	}
	var importAlg, file string
	var importNow bool
	imp := &cobra.Command{
		Use: "import", Short: "import a private key (JWK or PEM) as the next key", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			priv, err := parsePrivateKey(b)
			if err != nil {
				return fmt.Errorf("--file %s: %w", file, err)
			}
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				kid, err := o.Keys.Import(c.Context(), ops.CLIActor(), importAlg, priv, importNow)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "imported %s key %s\n", importAlg, kid)
				return nil
			})
		},
	}
	imp.Flags().StringVar(&importAlg, "alg", keys.RS256, "algorithm the key signs")
	imp.Flags().StringVar(&file, "file", "", "private key file, JWK or PEM (required)")
	imp.Flags().BoolVar(&importNow, "now", false, "sign with it at once")
	_ = imp.MarkFlagRequired("file")
	reencrypt := &cobra.Command{
		Use: "reencrypt", Short: "seal every key and secret with the first GATEHOUSE_SECRETS entry", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				n, err := o.Keys.Reencrypt(c.Context(), ops.CLIActor())
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "re-encrypted %d keys and secrets\n", n)
				return nil
			})
		},
	}
	rotateHMAC := &cobra.Command{
		Use: "rotate-hmac", Short: "start a new secret for opaque tokens; older ones verify until their tokens expire", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), true, func(o *ops.Service) error {
				if err := o.Keys.RotateHMAC(c.Context(), ops.CLIActor()); err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), "new opaque-token secret added; replicas sign with it within two minutes")
				return nil
			})
		},
	}
	cmd.AddCommand(list, rotate, retire, imp, reencrypt, rotateHMAC)
	return cmd
}
