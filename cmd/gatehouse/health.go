package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// newHealth is the container health check: no shell or curl in the image,
// so the binary asks its own listener.
func newHealth(g *globals) *cobra.Command {
	var target, path string
	var ready bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "check a running server's /healthz (or /readyz with --ready); exit 0 when it answers 200",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if target == "" {
				cfg, err := g.loadConfig()
				if err != nil {
					return err
				}
				target = localURL(cfg)
			}
			switch {
			case path != "":
			case ready:
				path = "/readyz"
			default:
				path = "/healthz"
			}
			// A local probe of the server's own listener: its certificate
			// names the public host, not 127.0.0.1, and nothing secret is sent.
			hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
			resp, err := hc.Get(target + path)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %s answered %s: %s", target+path, resp.Status, body)
			}
			fmt.Fprintf(c.OutOrStdout(), "ok: %s\n", target+path)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "the server's base URL (default: http on the configured listen address, 127.0.0.1 for a wildcard)")
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (the database answers) instead of /healthz")
	cmd.Flags().StringVar(&path, "path", "", "ask this path instead (e.g. /.well-known/openid-configuration, as the Helm test does)")
	return cmd
}

// localURL reaches the configured listener from the same host.
func localURL(cfg config.Config) string {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "http://" + cfg.Listen
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	scheme := "http://"
	if cfg.TLS.CertFile != "" {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}
