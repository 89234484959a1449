package app

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/authn/upstream"
	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/federation/github"
	"github.com/gatehouse-id/gatehouse/federation/google"
	fedoidc "github.com/gatehouse-id/gatehouse/federation/oidc"
	"github.com/gatehouse-id/gatehouse/internal/config"
)

// defaultNames label the buttons of connectors configured without a name.
var defaultNames = map[string]string{"google": "Google", "github": "GitHub"}

// upstreams opens the configured federation connectors.
func upstreams(cfg config.Config, deps federation.Deps) ([]upstream.IdP, error) {
	var out []upstream.IdP
	for _, c := range cfg.Federation.Connectors {
		conn, err := openConnector(c, deps)
		if err != nil {
			return nil, fmt.Errorf("federation.connectors %s: %w", c.ID, err)
		}
		name := c.Name
		if name == "" {
			name = defaultNames[c.Type]
		}
		if name == "" {
			name = c.ID
		}
		out = append(out, upstream.IdP{ID: c.ID, Name: name, Type: c.Type, Connector: conn, AllowSignup: c.AllowSignup, StoreTokens: c.StoreTokens})
	}
	return out, nil
}

func openConnector(c config.Connector, deps federation.Deps) (federation.Connector, error) {
	switch c.Type {
	case "oidc":
		var fc fedoidc.Config
		if err := decodeStrict(c.Config, &fc); err != nil {
			return nil, err
		}
		return fc.Open(c.ID, deps)
	case "google":
		var fc google.Config
		if err := decodeStrict(c.Config, &fc); err != nil {
			return nil, err
		}
		return fc.Open(c.ID, deps)
	case "github":
		var fc github.Config
		if err := decodeStrict(c.Config, &fc); err != nil {
			return nil, err
		}
		return fc.Open(c.ID, deps)
	}
	return nil, fmt.Errorf("unknown type %q", c.Type)
}

// decodeStrict decodes a connector's config block, refusing unknown fields.
func decodeStrict(n yaml.Node, v any) error {
	if n.Kind == 0 {
		return errors.New("config: the block with client_id and client_secret is missing")
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// CheckConfig validates a configuration as serve would, without opening
// the database or listening: the settings, and each federation connector's
// block (decoded strictly; no network).
func CheckConfig(cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	_, err := upstreams(cfg, federation.Deps{HTTP: federation.NewHTTPClient(), Log: slog.New(slog.DiscardHandler), Now: time.Now})
	return err
}
