package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

func newConfig(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "print an example configuration or check one"}
	cmd.AddCommand(&cobra.Command{
		Use: "example", Short: "print a complete commented configuration: every key, its default, when to change it", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(c.OutOrStdout(), config.Example())
			return err
		},
	}, &cobra.Command{
		Use: "validate", Short: "check the configuration (--config, GATEHOUSE_* variables, flags) without starting", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if err := app.CheckConfig(cfg); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "configuration OK: issuer %s, listening on %s, %d federation connector(s)\n", cfg.Issuer, cfg.Listen, len(cfg.Federation.Connectors))
			return nil
		},
	})
	return cmd
}
