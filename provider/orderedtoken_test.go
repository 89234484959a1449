package provider

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	fcompose "github.com/ory/fosite/compose"
)

// TestOrderedTokens: every kind of opaque token is issued with its issue
// time leading its key, so stored keys issued later sort after earlier
// ones; fosite's validation accepts them and refuses one whose time was
// altered; a token issued before ordered keys (fosite's own) keeps its
// stored key and still validates.
func TestOrderedTokens(t *testing.T) {
	ctx := context.Background()
	km := testKeys(t)
	cfg := &gatehouseConfig{Config: &fosite.Config{AccessTokenLifespan: time.Hour, RefreshTokenLifespan: time.Hour, AuthorizeCodeLifespan: time.Minute}, keys: km}
	clock := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	plain := fcompose.NewOAuth2HMACStrategy(cfg)
	o := &orderedTokens{CoreStrategy: plain, config: cfg, now: func() time.Time { return clock }, issue: true}
	off := &orderedTokens{CoreStrategy: plain, config: cfg, now: o.now} // keys.time_ordered_tokens off
	req := fosite.NewRequest()
	req.RequestedAt = time.Now().UTC()
	req.Session = &fosite.DefaultSession{}

	type strategy struct {
		generate  func(context.Context, fosite.Requester) (string, string, error)
		validate  func(context.Context, fosite.Requester, string) error
		signature func(context.Context, string) string
	}
	for _, tc := range []struct {
		kind, prefix      string
		ordered, old, off strategy
	}{
		{"access token", "ory_at_", strategy{o.GenerateAccessToken, o.ValidateAccessToken, o.AccessTokenSignature},
			strategy{plain.GenerateAccessToken, plain.ValidateAccessToken, plain.AccessTokenSignature},
			strategy{off.GenerateAccessToken, off.ValidateAccessToken, off.AccessTokenSignature}},
		{"refresh token", "ory_rt_", strategy{o.GenerateRefreshToken, o.ValidateRefreshToken, o.RefreshTokenSignature},
			strategy{plain.GenerateRefreshToken, plain.ValidateRefreshToken, plain.RefreshTokenSignature},
			strategy{off.GenerateRefreshToken, off.ValidateRefreshToken, off.RefreshTokenSignature}},
		{"authorization code", "ory_ac_", strategy{o.GenerateAuthorizeCode, o.ValidateAuthorizeCode, o.AuthorizeCodeSignature},
			strategy{plain.GenerateAuthorizeCode, plain.ValidateAuthorizeCode, plain.AuthorizeCodeSignature},
			strategy{off.GenerateAuthorizeCode, off.ValidateAuthorizeCode, off.AuthorizeCodeSignature}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			var last string
			for i := range 3 {
				clock = clock.Add(time.Duration(i) * time.Millisecond)
				tok, sig, err := tc.ordered.generate(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(tok, tc.prefix) {
					t.Errorf("token %q: want prefix %s", tok, tc.prefix)
				}
				if got := tc.ordered.signature(ctx, tok); got != sig {
					t.Errorf("stored key from the token %q, issued as %q", got, sig)
				}
				if !strings.HasPrefix(sig, timeHex(clock)) {
					t.Errorf("stored key %q does not start with the issue time %s", sig, timeHex(clock))
				}
				if err := tc.ordered.validate(ctx, req, tok); err != nil {
					t.Errorf("ordered token refused: %v", err)
				}
				if i > 0 && sig <= last {
					t.Errorf("stored key %q sorts before the earlier %q", sig, last)
				}
				last = sig
			}
			// The time is under the MAC: alter it and the token is refused.
			tok, _, _ := tc.ordered.generate(ctx, req)
			key, mac, _ := strings.Cut(strings.TrimPrefix(tok, tc.prefix), ".")
			raw, err := b64.DecodeString(key)
			if err != nil {
				t.Fatal(err)
			}
			raw[orderedTimeBytes-1]++ // a millisecond later
			altered := tc.prefix + b64.EncodeToString(raw) + "." + mac
			if err := tc.ordered.validate(ctx, req, altered); !errors.Is(err, fosite.ErrTokenSignatureMismatch) {
				t.Errorf("token with an altered time: %v, want a signature mismatch", err)
			}
			// A token issued before ordered keys: the same stored key as
			// fosite gave it, and still valid.
			oldTok, oldSig, err := tc.old.generate(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.ordered.signature(ctx, oldTok); got != oldSig || got != tc.old.signature(ctx, oldTok) {
				t.Errorf("older token's stored key %q, want %q", got, oldSig)
			}
			if err := tc.ordered.validate(ctx, req, oldTok); err != nil {
				t.Errorf("older token refused: %v", err)
			}
			// With the setting off, tokens are fosite's own, which the
			// previous release reads.
			offTok, offSig, err := tc.off.generate(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if key, _, _ := strings.Cut(strings.TrimPrefix(offTok, tc.prefix), "."); len(key) == orderedKeyChars || offSig != tc.old.signature(ctx, offTok) {
				t.Errorf("with time-ordered tokens off, issued %q stored as %q: not fosite's", offTok, offSig)
			}
		})
	}
	for _, s := range []string{"", "abc", "ory_at_", "a.b.c", "ory_at_a.b.c"} {
		if got := storedKey(s); got != "" {
			t.Errorf("storedKey(%q) = %q, want none", s, got)
		}
	}
}

func timeHex(t time.Time) string {
	ms := t.UnixMilli()
	return hex.EncodeToString([]byte{byte(ms >> 40), byte(ms >> 32), byte(ms >> 24), byte(ms >> 16), byte(ms >> 8), byte(ms)})
}
