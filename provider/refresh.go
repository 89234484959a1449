package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// graceWait bounds how long a concurrent duplicate refresh waits for the
// winner's response to appear before it is treated as reuse.
const graceWait = 2 * time.Second

// refreshSignature is the stored key of a refresh token.
func (p tokenFlow) refreshSignature(ctx context.Context, token string) string {
	return p.strategy.RefreshTokenSignature(ctx, token)
}

// graceReplay answers a refresh request from the grace record of its token,
// if the same client presents it within the grace period. It reports whether
// it wrote a response.
func (p tokenFlow) graceReplay(ctx context.Context, w http.ResponseWriter, r *http.Request, signature string, wait time.Duration) bool {
	deadline := p.now().Add(wait)
	for {
		g, err := p.store.Tokens.GetRefreshGrace(ctx, signature, p.now())
		if err == nil {
			return p.writeGrace(ctx, w, r, g)
		}
		if !errors.Is(err, storage.ErrNotFound) || !p.now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p tokenFlow) writeGrace(ctx context.Context, w http.ResponseWriter, r *http.Request, g storage.RefreshGrace) bool {
	c, err := p.oauth.(clientAuthenticator).AuthenticateClient(ctx, r, r.PostForm)
	if err != nil || c.GetID() != g.ClientID {
		return false
	}
	body, err := p.cipher.Open(g.Response, []byte("refresh_grace/"+g.Signature))
	if err != nil {
		p.log.Error("refresh grace record cannot be opened", "err", err)
		return false
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_, _ = w.Write(body)
	return true
}

// rememberRotation seals the response of a successful rotation under the old
// token's signature for the grace period.
func (p tokenFlow) rememberRotation(ctx context.Context, signature, clientID string, resp fosite.AccessResponder) {
	body, err := json.Marshal(resp.ToMap())
	if err != nil {
		p.log.Error("encode refresh response", "err", err)
		return
	}
	sealed, err := p.cipher.Seal(body, []byte("refresh_grace/"+signature))
	if err != nil {
		p.log.Error("seal refresh response", "err", err)
		return
	}
	if err := p.store.Tokens.PutRefreshGrace(ctx, storage.RefreshGrace{Signature: signature, ClientID: clientID, Response: sealed,
		ExpiresAt: p.now().Add(p.refreshGrace)}); err != nil {
		p.log.Warn("store refresh grace record", "err", err)
	}
}

// revokeFamily revokes every token of the grant a refresh token belongs to:
// the answer to a refresh token presented twice at once (reuse).
func (p tokenFlow) revokeFamily(ctx context.Context, signature string) {
	t, err := p.store.Tokens.GetToken(ctx, storage.TokenRefresh, signature)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			p.log.Error("revoke token family: lookup", "err", err)
		}
		return
	}
	for _, kind := range []storage.TokenKind{storage.TokenRefresh, storage.TokenAccess} {
		if _, err := p.store.Tokens.DeleteTokensByRequestID(ctx, kind, t.RequestID); err != nil {
			p.log.Error("revoke token family", "kind", kind, "err", err)
		}
	}
	p.log.Warn("refresh token reuse: token family revoked", "client_id", t.ClientID, "subject", t.Subject)
}
