package clientspec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/netguard"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Subject types (OpenID Connect Core §8).
const (
	SubjectPublic   = "public"
	SubjectPairwise = "pairwise"
)

// maxSectorDocument bounds a sector_identifier_uri document.
const maxSectorDocument = 64 << 10

// SubjectSector is the sector a pairwise client's subject identifiers are
// computed for: the host of its sector_identifier_uri, or of its redirect
// URIs (which then share one host). "" for a client with public subjects.
func SubjectSector(c storage.Client) string {
	if c.Metadata.SubjectType != SubjectPairwise {
		return ""
	}
	raw := c.Metadata.SectorIdentifierURI
	if raw == "" && len(c.RedirectURIs) > 0 {
		raw = c.RedirectURIs[0]
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		// Not reachable through registration: a sector of its own, never
		// the public subject.
		return "client:" + c.ID
	}
	return u.Hostname()
}

// checkSubjectType validates subject_type and sector_identifier_uri: a
// pairwise client without a sector document must keep its redirect URIs on
// one host, which is then its sector.
func (s Spec) checkSubjectType() error {
	switch s.SubjectType {
	case "", SubjectPublic:
		if s.SectorIdentifierURI != "" {
			return BadMetadata("sector_identifier_uri goes with subject_type pairwise")
		}
		return nil
	case SubjectPairwise:
	default:
		return BadMetadata("subject_type %q is not supported (use public or pairwise)", s.SubjectType)
	}
	if raw := s.SectorIdentifierURI; raw != "" {
		if len(raw) > maxURILength {
			return BadMetadata("sector_identifier_uri is longer than %d characters", maxURILength)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || (u.Scheme == "http" && config.IsLoopbackHost(u.Hostname()))) {
			return BadMetadata("sector_identifier_uri %q must be an absolute https URL", raw)
		}
		return nil
	}
	hosts := map[string]bool{}
	for _, r := range s.RedirectURIs {
		if u, err := url.Parse(r); err == nil {
			hosts[u.Hostname()] = true
		}
	}
	if len(hosts) > 1 {
		return BadMetadata("redirect_uris span several hosts: a pairwise client needs a sector_identifier_uri listing them")
	}
	return nil
}

// VerifySector fetches a pairwise client's sector_identifier_uri through
// hc (a guarded client) and checks that it lists every redirect URI
// (OpenID Connect Registration §5). A spec without one passes.
func (s Spec) VerifySector(ctx context.Context, hc *http.Client) error {
	if s.SectorIdentifierURI == "" || s.SubjectType != SubjectPairwise {
		return nil
	}
	listed, err := fetchSector(ctx, hc, s.SectorIdentifierURI)
	if err != nil {
		return BadMetadata("sector_identifier_uri: %v", err)
	}
	for _, r := range s.RedirectURIs {
		if !slices.Contains(listed, r) {
			return BadMetadata("sector_identifier_uri does not list the redirect URI %q", r)
		}
	}
	return nil
}

func fetchSector(ctx context.Context, hc *http.Client, uri string) ([]string, error) {
	body, err := netguard.Fetch(ctx, hc, "sector_identifier_uri", uri, "application/json", maxSectorDocument)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return nil, fmt.Errorf("could not be fetched: %w", err)
	}
	var listed []string
	if err := json.Unmarshal(body, &listed); err != nil {
		return nil, errors.New("is not a JSON array of URIs")
	}
	return listed, nil
}

// SectorClient is the guarded HTTP client that fetches sector documents
// (no private address unless allowPrivate, bounded in time, no redirects),
// for the CLI and the admin API.
func SectorClient(allowPrivate bool) *http.Client {
	return netguard.Client("sector_identifier_uri", allowPrivate)
}
