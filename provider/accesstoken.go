package provider

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
)

// accessTokens issues opaque HMAC access tokens, or RFC 9068 JWT access
// tokens (typ at+jwt) for clients that use them. Opaque tokens and JWTs
// issued for a user are recorded by signature, so introspection and
// revocation treat them alike; client_credentials JWTs are stateless
// (stateless.go).
type accessTokens struct {
	oauth2.CoreStrategy // HMAC: codes, refresh tokens and opaque access tokens
	signer              *keys.Signer
	alg                 string
	defaultFormat       string
	// clientCredentialsFormat is the default for tokens issued for no user.
	clientCredentialsFormat string
	pairwiseKey             []byte
	issuer                  string
	verified                verifiedTokens
	now                     func() time.Time
}

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// AccessTokenSignature is the stored key of an access token.
func (a *accessTokens) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		sig, _ := a.signer.GetSignature(ctx, token)
		return sig
	}
	return a.CoreStrategy.AccessTokenSignature(ctx, token)
}

// GenerateAccessToken issues the client's format.
func (a *accessTokens) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if a.formatOf(r) != clientspec.FormatJWT {
		return a.CoreStrategy.GenerateAccessToken(ctx, r)
	}
	sess := r.GetSession()
	clientID := r.GetClient().GetID()
	sub := sess.GetSubject()
	if sub == "" {
		sub = clientID // RFC 9068 §2.2: no resource owner, the client is the subject
	} else if c, ok := r.GetClient().(*client); ok {
		if sector := clientspec.SubjectSector(c.c); sector != "" {
			sub = interaction.PairwiseSubject(a.pairwiseKey, sector, sub) // the client can read it
		}
	}
	aud := []string(r.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{a.issuer}
	}
	now := r.GetRequestedAt()
	claims := fjwt.MapClaims{
		"iss": a.issuer, "sub": sub, "aud": aud, "client_id": clientID, "jti": httpx.RandomString(16),
		"iat": now.Unix(), "exp": sess.GetExpiresAt(fosite.AccessToken).Unix(),
	}
	if a.stateless(r) {
		claims["gty"] = gtyClientCredentials
	}
	if scopes := r.GetGrantedScopes(); len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if os, ok := sess.(openid.Session); ok && os.IDTokenClaims() != nil {
		c := os.IDTokenClaims()
		if !c.AuthTime.IsZero() {
			claims["auth_time"] = c.AuthTime.Unix()
		}
		if c.AuthenticationContextClassReference != "" {
			claims["acr"] = c.AuthenticationContextClassReference
		}
		if len(c.AuthenticationMethodsReferences) > 0 {
			claims["amr"] = c.AuthenticationMethodsReferences
		}
	}
	return a.signer.Generate(ctx, claims, &fjwt.Headers{Extra: map[string]interface{}{"alg": keys.HeaderAlg(a.alg)}})
}

// ValidateAccessToken checks a token's own validity (signature and expiry);
// the stored record decides whether it was revoked.
func (a *accessTokens) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if !isJWT(token) {
		return a.CoreStrategy.ValidateAccessToken(ctx, r, token)
	}
	t, err := a.verified.decode(ctx, a.signer, token, a.now())
	if err != nil {
		var ve *fjwt.ValidationError
		if errors.As(err, &ve) && ve.Has(fjwt.ValidationErrorExpired) {
			return fosite.ErrTokenExpired.WithWrap(err)
		}
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
		return fosite.ErrTokenSignatureMismatch.WithHint("Not an access token.")
	}
	return nil
}
