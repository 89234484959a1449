package consent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ceremonyPasskeyMFA is a passkey asked for as a second factor.
const ceremonyPasskeyMFA = "passkey_mfa"

// loginChallengeLifetime is how long a passkey sign-in challenge shown on
// the login page can be answered.
const loginChallengeLifetime = 10 * time.Minute

// sealLoginChallenge seals a passwordless sign-in's WebAuthn session data,
// with its expiry, into the login page (AAD: the flow), so showing the page
// stores nothing.
func (s *engine) sealLoginChallenge(flowID string, state []byte) (string, error) {
	payload := binary.BigEndian.AppendUint64(nil, uint64(s.o.Now().Add(loginChallengeLifetime).Unix()))
	sealed, err := s.o.Cipher.Seal(append(payload, state...), []byte("passkey_login\x00"+flowID))
	if err != nil {
		return "", fmt.Errorf("seal passkey challenge: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// takeLoginChallenge opens a sealed sign-in challenge of this flow and
// marks it used (once, across replicas), so an answer cannot be replayed.
func (s *engine) takeLoginChallenge(ctx context.Context, sealed, flowID string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(sealed) > 8192 {
		return nil, web.ErrWrongState
	}
	payload, err := s.o.Cipher.Open(raw, []byte("passkey_login\x00"+flowID))
	if err != nil || len(payload) < 8 {
		return nil, web.ErrWrongState
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !s.o.Now().Before(exp) {
		return nil, web.ErrWrongState
	}
	used := sha256.Sum256(raw)
	if err := s.o.Store.MarkJTIUsed(ctx, "passkey_login:"+hex.EncodeToString(used[:]), exp, s.o.Now()); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return nil, web.ErrWrongState
		}
		return nil, err
	}
	return payload[8:], nil
}
