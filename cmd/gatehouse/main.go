// Command gatehouse is the gatehouse OAuth 2.0 / OpenID Connect server and
// its admin CLI. This package only wires the other packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/buildinfo"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
)

// globals are the persistent flags every command shares.
type globals struct {
	configPath  string
	databaseURL string
	dev         bool
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	root := newRoot(g)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "gatehouse is an OAuth 2.0 / OpenID Connect authorization server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "path to the YAML config file (env GATEHOUSE_CONFIG)")
	pf.StringVar(&g.databaseURL, "database-url", "", "sqlite:///abs/path.db, sqlite://relative.db or postgres://… (env GATEHOUSE_DATABASE_URL)")
	pf.BoolVar(&g.dev, "dev", false, "development mode: SQLite in the working directory, generated secrets, demo user and client")
	root.AddCommand(newServe(g), newMigrate(g), newUsers(g), newClients(g), newAudit(g), newKeys(g), newAdminKeys(g), newGC(g), newVersion(g), newConfig(g), newHealth(g), newBackup(g), newEmail(g))
	return root
}

// devDatabaseURL is where `--dev` keeps its data.
const devDatabaseURL = "sqlite://gatehouse-dev.db"

// loadConfig reads file, env and the shared flags, in that order of precedence.
func (g *globals) loadConfig() (config.Config, error) {
	path := g.configPath
	if path == "" {
		path = os.Getenv("GATEHOUSE_CONFIG")
	}
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		return cfg, err
	}
	if g.dev {
		cfg.Dev = true
	}
	if g.databaseURL != "" {
		cfg.DatabaseURL = g.databaseURL
	}
	if cfg.Dev {
		if cfg.DatabaseURL == "" {
			cfg.DatabaseURL = devDatabaseURL
		}
		cfg.AutoMigrate = true
	}
	return cfg, nil
}

// openStore opens the database; when migrate is false it insists the schema
// is current.
func openStore(ctx context.Context, cfg config.Config, migrate bool) (*sqlstore.Store, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("no database: set --database-url or GATEHOUSE_DATABASE_URL (e.g. sqlite:///var/lib/gatehouse/gatehouse.db or postgres://user@host/db)")
	}
	st, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{MaxOpenConns: cfg.Database.MaxOpenConns,
		MaxIdleConns: cfg.Database.MaxIdleConns, ConnMaxLifetime: cfg.Database.ConnMaxLifetime.Duration})
	if err != nil {
		return nil, err
	}
	if migrate {
		err = st.Migrate(ctx)
	} else {
		err = st.CheckSchema(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// withStore runs fn with the configured database for the data commands.
func (g *globals) withStore(ctx context.Context, fn func(*sqlstore.Store) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi := buildinfo.Get()
			modified := ""
			if bi.Modified {
				modified = " (modified)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gatehouse %s\ncommit %s%s\nbuilt %s with %s\n", bi.Version, bi.Commit, modified, bi.Date, bi.GoVersion)
			return nil
		},
	}
}
