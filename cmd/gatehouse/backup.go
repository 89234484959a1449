package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
)

func newBackup(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "copy a SQLite database while it serves (PostgreSQL: use pg_dump)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("--to FILE: required (a new file; it is never overwritten)")
			}
			return g.withStore(c.Context(), func(st *sqlstore.Store) error {
				if err := st.Backup(c.Context(), to); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "backed up to %s (keep GATEHOUSE_SECRETS with it: the keys inside are sealed with it)\n", to)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the backup file to create")
	return cmd
}
