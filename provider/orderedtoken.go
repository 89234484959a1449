package provider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// Opaque tokens (authorization codes, refresh tokens, opaque access tokens)
// are fosite's HMAC tokens, "ory_<part>_<key>.<mac>", with one change: the
// key's first 6 bytes are its issue time in milliseconds, and the stored
// key (the signature fosite records it by) starts with that time in hex.
// A new row therefore lands at the end of the (kind, signature) primary
// key instead of on a random leaf page of it: once that index outgrows
// the database's cache, a random insert reads a page from disk and, after
// each checkpoint, writes a whole page image to the WAL. The key keeps 27
// random bytes (216 bits); the MAC covers the time with them, so the time
// cannot be altered, and fosite's own validation checks these tokens
// unchanged. Tokens issued before this, with 32 random bytes, keep their
// stored key (the MAC alone), told apart by the key's length. They are
// issued only with keys.time_ordered_tokens on: a replica of an earlier
// release would not find them, so a rolling upgrade turns it on once none
// is left.
const (
	orderedTimeBytes = 6
	orderedKeyBytes  = orderedTimeBytes + 27
)

var (
	b64 = base64.RawURLEncoding
	// orderedKeyChars is the encoded length of an ordered key; fosite's
	// 32-byte keys encode to 43 characters.
	orderedKeyChars = b64.EncodedLen(orderedKeyBytes)
	// timeChars encode exactly the time's 6 bytes.
	timeChars = b64.EncodedLen(orderedTimeBytes)
)

// orderedTokens is an oauth2.CoreStrategy that reads opaque tokens of
// either kind (it derives every one's stored key) and, with issue set,
// issues time-ordered ones; validation is the wrapped fosite strategy's.
type orderedTokens struct {
	oauth2.CoreStrategy // fosite's prefixed HMAC strategy
	config              *gatehouseConfig
	now                 func() time.Time
	// issue is keys.time_ordered_tokens: off, new tokens are fosite's
	// (which replicas of the previous release can read).
	issue bool
}

// GenerateAccessToken issues an ordered opaque access token.
func (o *orderedTokens) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !o.issue {
		return o.CoreStrategy.GenerateAccessToken(ctx, r)
	}
	return o.generate(ctx, "at")
}

// GenerateRefreshToken issues an ordered refresh token.
func (o *orderedTokens) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !o.issue {
		return o.CoreStrategy.GenerateRefreshToken(ctx, r)
	}
	return o.generate(ctx, "rt")
}

// GenerateAuthorizeCode issues an ordered authorization code.
func (o *orderedTokens) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !o.issue {
		return o.CoreStrategy.GenerateAuthorizeCode(ctx, r)
	}
	return o.generate(ctx, "ac")
}

// AccessTokenSignature is the stored key of an opaque access token.
func (o *orderedTokens) AccessTokenSignature(_ context.Context, token string) string {
	return storedKey(token)
}

// RefreshTokenSignature is the stored key of a refresh token.
func (o *orderedTokens) RefreshTokenSignature(_ context.Context, token string) string {
	return storedKey(token)
}

// AuthorizeCodeSignature is the stored key of an authorization code.
func (o *orderedTokens) AuthorizeCodeSignature(_ context.Context, token string) string {
	return storedKey(token)
}

// generate makes "ory_<part>_<key>.<mac>" as fosite's HMAC strategy does
// (HMAC-SHA512/256 under the first 32 bytes of the current global
// secret), with an ordered key.
func (o *orderedTokens) generate(ctx context.Context, part string) (string, string, error) {
	secret, err := o.config.GetGlobalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	if len(secret) < 32 {
		return "", "", fmt.Errorf("opaque-token secret: %d bytes, want 32", len(secret))
	}
	key := make([]byte, orderedKeyBytes)
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(o.now().UnixMilli()))
	copy(key, ms[8-orderedTimeBytes:])
	if _, err := rand.Read(key[orderedTimeBytes:]); err != nil {
		return "", "", fmt.Errorf("token key: %w", err)
	}
	hasher := o.config.GetHMACHasher(ctx)
	if hasher == nil {
		hasher = sha512.New512_256
	}
	h := hmac.New(hasher, secret[:32])
	h.Write(key)
	encodedKey, mac := b64.EncodeToString(key), b64.EncodeToString(h.Sum(nil))
	return "ory_" + part + "_" + encodedKey + "." + mac, orderedStoredKey(encodedKey, mac), nil
}

// storedKey is the stored key of an opaque token, with or without its
// "ory_<part>_" prefix: hex time followed by the MAC for an ordered
// token, the MAC alone for an older one (as fosite's), "" for a string
// that is no opaque token.
func storedKey(token string) string {
	if len(token) > 7 && strings.HasPrefix(token, "ory_") && token[6] == '_' {
		token = token[7:]
	}
	key, mac, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(mac, ".") {
		return ""
	}
	if len(key) == orderedKeyChars {
		return orderedStoredKey(key, mac)
	}
	return mac
}

// orderedStoredKey is hex(issue time) + MAC; a key whose time does not
// decode keeps the MAC alone (it then matches no ordered row).
func orderedStoredKey(encodedKey, mac string) string {
	t, err := b64.DecodeString(encodedKey[:timeChars])
	if err != nil || len(t) != orderedTimeBytes {
		return mac
	}
	return hex.EncodeToString(t) + mac
}
