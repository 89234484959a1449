package provider

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/keys"
)

// maxVerified bounds the verified-token memory (entries of about 1 KiB).
const maxVerified = 10_000

// verifiedTokens remembers JWT access tokens whose signature this replica
// has verified, by their SHA-256, until they expire: the same token shown
// again (a resource server introspecting every request it serves) costs a
// hash, not a signature check. Only the signature is remembered: whether
// the token was revoked is read every time, and a token whose signing key
// is no longer published is checked afresh (and refused).
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	token *fjwt.Token // read only once stored
	kid   string
	exp   time.Time
}

// decode returns the verified token, from memory or by signer.Decode.
func (v *verifiedTokens) decode(ctx context.Context, signer *keys.Signer, token string, now time.Time) (*fjwt.Token, error) {
	sum := sha256.Sum256([]byte(token))
	v.mu.Lock()
	e, ok := v.m[sum]
	v.mu.Unlock()
	if ok && now.Before(e.exp) {
		if _, published := signer.Manager.PublicKey(e.kid); published {
			return e.token, nil
		}
	}
	t, err := signer.Decode(ctx, token)
	if err != nil || t == nil {
		return t, err
	}
	exp := claimTime(t.Claims["exp"])
	kid, _ := t.Header["kid"].(string)
	if exp.IsZero() || kid == "" {
		return t, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[32]byte]verifiedToken{}
	}
	if len(v.m) >= maxVerified {
		for k, old := range v.m {
			if !now.Before(old.exp) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxVerified {
			clear(v.m)
		}
	}
	v.m[sum] = verifiedToken{token: t, kid: kid, exp: exp}
	return t, nil
}

// claimTime reads a NumericDate claim as fosite's parser leaves it (int64,
// float64 or json.Number); zero when absent or malformed.
func claimTime(v any) time.Time {
	switch n := v.(type) {
	case int64:
		return time.Unix(n, 0)
	case float64:
		return time.Unix(int64(n), 0)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return time.Unix(i, 0)
		}
	}
	return time.Time{}
}
