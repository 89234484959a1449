package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/ops"
	"github.com/spf13/cobra"
)

func newAdminKeys(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "admin-keys", Short: "manage admin API keys"}
	var name string
	var roles []string
	create := &cobra.Command{
		Use: "create", Short: "create an admin API key; it is printed once", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				plain, _, err := o.AdminKeys.Create(c.Context(), ops.CLIActor(), name, roles)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), plain)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	create.Flags().StringArrayVar(&roles, "role", nil, "role (repeatable): "+strings.Join(ops.Roles, ", "))
	list := &cobra.Command{
		Use: "list", Short: "list admin API keys", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				ks, err := o.AdminKeys.List(c.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLES\tCREATED\tREVOKED")
				for _, k := range ks {
					revoked := "-"
					if !k.RevokedAt.IsZero() {
						revoked = k.RevokedAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Roles, ","), k.CreatedAt.Format(time.RFC3339), revoked)
				}
				return tw.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "revoke an admin API key", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return g.withOps(c.Context(), false, func(o *ops.Service) error {
				if err := o.AdminKeys.Revoke(c.Context(), ops.CLIActor(), a[0]); err != nil {
					return explain(err, "active admin key "+a[0])
				}
				fmt.Fprintf(c.OutOrStdout(), "revoked %s\n", a[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
