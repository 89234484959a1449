package provider

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
)

// Stateless JWT access tokens. A JWT access token of a client_credentials
// grant says all there is to say about itself — the client, its scopes,
// its audience, its expiry — so it is not stored: issuing it costs no
// write. It carries "gty": "client_credentials" (as Auth0's do), which is
// how the server knows not to look for a record. Its revocation (RFC 7009)
// is one row keyed by its jti, and introspection and userinfo read that
// row (one primary-key read) after checking the signature and expiry, so
// a revocation holds on every replica as soon as it commits. A token of a
// deleted client is inactive (the client is read, from the cache, too).
//
// Tokens issued for a user are still stored: their grant (a refresh
// family, a browser session, the account) can be revoked as a whole.

// gtyClientCredentials marks a stateless access token.
const gtyClientCredentials = "client_credentials"

// stateless says whether the access token issued for r is a stateless
// JWT: the client's format is JWT and there is no resource owner (the
// client_credentials grant, the only one without a user). It reads only
// what survives fosite's sanitized copy of r, which is what the store is
// handed.
func (a *accessTokens) stateless(r fosite.Requester) bool {
	return r.GetSession().GetSubject() == "" && a.formatOf(r) == clientspec.FormatJWT
}

// formatOf is the access-token format of r: its client's own, or else
// the server's default for tokens of a user or for no user.
func (a *accessTokens) formatOf(r fosite.Requester) string {
	if c, ok := r.GetClient().(*client); ok && c.c.AccessTokenFormat != "" {
		return c.c.AccessTokenFormat
	}
	if r.GetSession().GetSubject() == "" {
		return a.clientCredentialsFormat
	}
	return a.defaultFormat
}

// statelessJWT validates and revokes stateless access tokens.
type statelessJWT struct {
	tokens *accessTokens
	store  *fositeStore
	now    func() time.Time
}

// claims returns the verified claims of token when it is an unexpired
// stateless access token signed by this server (false otherwise: another
// validator decides).
func (s statelessJWT) claims(ctx context.Context, token string) (fjwt.MapClaims, bool) {
	if !isJWT(token) {
		return nil, false
	}
	t, err := s.tokens.verified.decode(ctx, s.tokens.signer, token, s.now())
	if err != nil || t == nil {
		return nil, false
	}
	if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
		return nil, false
	}
	if gty, _ := t.Claims["gty"].(string); gty != gtyClientCredentials {
		return nil, false
	}
	if jti, _ := t.Claims["jti"].(string); jti == "" {
		return nil, false
	}
	return t.Claims, true
}

func revocationKey(claims fjwt.MapClaims) string {
	jti, _ := claims["jti"].(string)
	return "jti:" + jti
}

// introspect fills ar from a stateless token: its client (which must
// still exist), scopes, audience and expiry; a revoked token is inactive.
func (s statelessJWT) introspect(ctx context.Context, claims fjwt.MapClaims, ar fosite.AccessRequester, scopes []string) error {
	revoked, err := s.store.tokens.TokenKeyRevoked(ctx, revocationKey(claims))
	if err != nil {
		return err
	}
	if revoked {
		return fosite.ErrInactiveToken.WithHint("The token was revoked.")
	}
	clientID, _ := claims["client_id"].(string)
	c, err := s.store.GetClient(ctx, clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return fosite.ErrInactiveToken.WithHint("The token's client no longer exists.")
	}
	if err != nil {
		return err
	}
	var jc fjwt.JWTClaims
	jc.FromMapClaims(claims)
	for _, want := range scopes {
		if !fosite.ExactScopeStrategy(jc.Scope, want) {
			return fosite.ErrInvalidScope.WithHintf("The token was not granted %q.", want)
		}
	}
	sess, ok := ar.GetSession().(*session)
	if !ok {
		return errors.New("stateless access token: unexpected session type")
	}
	sess.SetExpiresAt(fosite.AccessToken, jc.ExpiresAt)
	req := &fosite.Request{ID: jc.JTI, RequestedAt: jc.IssuedAt, Client: c, GrantedScope: jc.Scope, RequestedScope: jc.Scope, Session: sess,
		Form: map[string][]string{}}
	for _, aud := range jc.Audience {
		if aud != s.tokens.issuer {
			req.GrantedAudience = append(req.GrantedAudience, aud)
		}
	}
	ar.Merge(req)
	return nil
}

// statelessFirst introspects stateless tokens itself and hands every
// other token to the stored-token validator (fosite asks each
// introspector in turn, and one that cannot find a record fails the
// whole introspection).
type statelessFirst struct {
	stateless statelessJWT
	core      fosite.TokenIntrospector
}

func (v statelessFirst) IntrospectToken(ctx context.Context, token string, use fosite.TokenUse, ar fosite.AccessRequester, scopes []string) (fosite.TokenUse, error) {
	if claims, ok := v.stateless.claims(ctx, token); ok {
		if err := v.stateless.introspect(ctx, claims, ar, scopes); err != nil {
			return "", err
		}
		return fosite.AccessToken, nil
	}
	return v.core.IntrospectToken(ctx, token, use, ar, scopes)
}

// revokeFirst revokes stateless tokens itself and hands every other token
// to the stored-token handler (which would look for records that do not
// exist).
type revokeFirst struct {
	stateless statelessJWT
	core      fosite.RevocationHandler
}

func (h revokeFirst) RevokeToken(ctx context.Context, token string, typ fosite.TokenType, c fosite.Client) error {
	if claims, ok := h.stateless.claims(ctx, token); ok {
		return h.stateless.revoke(ctx, claims, c)
	}
	return h.core.RevokeToken(ctx, token, typ, c)
}

// revoke is RFC 7009 for a stateless token: only its own client may
// revoke it; the revocation row lives as long as the token would.
func (s statelessJWT) revoke(ctx context.Context, claims fjwt.MapClaims, c fosite.Client) error {
	if clientID, _ := claims["client_id"].(string); clientID != c.GetID() {
		return fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client.")
	}
	exp := claimTime(claims["exp"])
	if exp.IsZero() {
		exp = s.now().Add(time.Hour)
	}
	return s.store.tokens.RevokeTokenKey(ctx, revocationKey(claims), exp)
}

var (
	_ fosite.TokenIntrospector = statelessFirst{}
	_ fosite.RevocationHandler = revokeFirst{}
)
