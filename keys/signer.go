package keys

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	fjwt "github.com/ory/fosite/token/jwt"
)

// Signer is fosite's jwt.Signer backed by the Manager and go-jose v4. fosite
// v0.49 uses go-jose v3 inside; this type is the only place the two meet.
//
// The algorithm of a token comes from the "alg" member of the header fosite
// passes (the session's ID token headers), so each client can have its own;
// without one the Signer's Alg (RS256 by default) is used. fosite derives the
// at_hash hash from that same member (alg[2:] as the SHA-2 size), so EdDSA,
// whose at_hash uses SHA-512, is carried as HeaderAlg(EdDSA) = "Ed512".
type Signer struct {
	Manager *Manager
	// Alg is the default algorithm, RS256 unless set.
	Alg string
	// Type is the JOSE "typ" header: JWT for ID tokens, at+jwt for access tokens.
	Type string
}

var _ fjwt.Signer = (*Signer)(nil)

// HeaderAlg is the session header value that selects alg (see Signer).
func HeaderAlg(alg string) string {
	if alg == EdDSA {
		return "Ed512"
	}
	return alg
}

func algFromHeader(v string) string {
	if v == "Ed512" {
		return EdDSA
	}
	return v
}

// droppedClaims are claims fosite adds that are not part of any token we
// issue: `rat` (requested at) is fosite-internal bookkeeping.
var droppedClaims = []string{"rat"}

// Generate signs claims with the active key; the header carries kid and typ.
func (s *Signer) Generate(ctx context.Context, claims fjwt.MapClaims, header fjwt.Mapper) (string, string, error) {
	if claims == nil || header == nil {
		return "", "", errors.New("keys: claims or header is nil")
	}
	hdr := header.ToMap() // fosite's ToMap leaves "alg" out; Get has it
	alg := s.Alg
	if v, ok := header.Get("alg").(string); ok && v != "" {
		alg = algFromHeader(v)
	}
	if alg == "" {
		alg = RS256
	}
	key, err := s.Manager.SigningKey(ctx, alg)
	if err != nil {
		return "", "", err
	}
	typ := s.Type
	if typ == "" {
		typ = "JWT"
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	for k, v := range hdr {
		switch k {
		case "alg", "kid", "typ":
			continue // ours, not the caller's
		}
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", "", fmt.Errorf("keys: signer: %w", err)
	}
	body := make(map[string]any, len(claims))
	for k, v := range claims {
		body[k] = v
	}
	for _, k := range droppedClaims {
		delete(body, k)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return "", "", fmt.Errorf("keys: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("keys: sign: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", "", err
	}
	sig, err := s.GetSignature(ctx, compact)
	return compact, sig, err
}

// Decode parses and verifies a token against the published key named by its
// kid. fosite's ValidationError semantics (expiry etc.) are kept.
func (s *Signer) Decode(_ context.Context, token string) (*fjwt.Token, error) {
	return fjwt.ParseWithClaims(token, fjwt.MapClaims{}, func(t *fjwt.Token) (interface{}, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := s.Manager.PublicKey(kid)
		if !ok {
			return nil, fmt.Errorf("keys: unknown kid %q", kid)
		}
		if pub.Algorithm != "" && string(t.Method) != pub.Algorithm {
			return nil, fmt.Errorf("keys: token alg %q does not match key %q", t.Method, kid)
		}
		// fosite verifies with go-jose v3: hand it a v3 JWK, which carries
		// every key type (a bare ed25519.PublicKey it cannot take by pointer).
		return josev3.JSONWebKey{Key: pub.Key, KeyID: pub.KeyID, Algorithm: pub.Algorithm, Use: pub.Use}, nil
	})
}

// Validate verifies a token and returns its signature.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// GetSignature returns the third part of a compact JWS.
func (s *Signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("keys: a JWT has three parts")
	}
	return parts[2], nil
}

// Hash is SHA-256 (at_hash and c_hash for RS256/ES256/PS256).
func (s *Signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	h := sha256.Sum256(in)
	return h[:], nil
}

// GetSigningMethodLength is the size of the Hash output.
func (s *Signer) GetSigningMethodLength(context.Context) int { return sha256.Size }
