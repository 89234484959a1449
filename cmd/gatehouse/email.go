package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

func newEmail(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "email", Short: "check email delivery"}
	var to string
	test := &cobra.Command{
		Use:   "send-test",
		Short: "send a test message now through the configured SMTP server (not through the outbox) and say what it answered",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.Email.Host == "" {
				return errors.New("email.host is not set (GATEHOUSE_EMAIL_HOST): there is no SMTP server to test")
			}
			sender, err := app.MailSender(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return err
			}
			host := "localhost"
			if u, err := url.Parse(cfg.Issuer); err == nil && u.Hostname() != "" {
				host = u.Hostname()
			}
			id := httpx.RandomString(24)
			m := storage.Mail{ID: id, To: to, Subject: "gatehouse test message",
				Text: "This message checks gatehouse's email settings (gatehouse email send-test). Nothing to do.\n" + cfg.Issuer + "\n",
				HTML: "<p>This message checks gatehouse's email settings (<code>gatehouse email send-test</code>). Nothing to do.</p>"}
			if err := sender.Send(c.Context(), m, id+"@"+host); err != nil {
				return fmt.Errorf("not sent through %s:%d: %w", cfg.Email.Host, cfg.Email.Port, err)
			}
			fmt.Fprintf(c.OutOrStdout(), "sent to %s through %s:%d (Message-ID <%s@%s>)\n", to, cfg.Email.Host, cfg.Email.Port, id, host)
			return nil
		},
	}
	test.Flags().StringVar(&to, "to", "", "the address to send the test message to (required)")
	_ = test.MarkFlagRequired("to")
	cmd.AddCommand(test)
	return cmd
}
