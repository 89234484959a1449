package ops

import (
	"context"
	"errors"
	"strconv"

	"github.com/gatehouse-id/gatehouse/keys"
)

// Keys rotates, imports and retires signing keys. The key manager commits
// its own changes (it keeps every replica's cache in step), so each
// operation's audit event is written right after it; a failed audit write
// is returned as the operation's error.
type Keys struct {
	km  *keys.Manager
	rec recorder
}

// ErrNoKeys means the service was built without a key manager.
var ErrNoKeys = errors.New("ops: no key manager")

func (k *Keys) run(ctx context.Context, a Actor, fn func() (event, error)) error {
	if k.km == nil {
		return ErrNoKeys
	}
	e, err := fn()
	if errors.Is(err, keys.ErrAlgNotEnabled) {
		return InvalidInput(err.Error())
	}
	if err != nil {
		return err
	}
	return k.rec.append(ctx, a, e)
}

// List returns every key with its schedule.
func (k *Keys) List(ctx context.Context) ([]keys.KeyInfo, error) {
	if k.km == nil {
		return nil, ErrNoKeys
	}
	return k.km.List(ctx)
}

// Rotate publishes a new key for alg (default RS256); it signs after the pre-publication
// time, or at once when immediate.
func (k *Keys) Rotate(ctx context.Context, a Actor, alg string, immediate bool) (string, error) {
	if alg == "" {
		alg = keys.RS256
	}
	var kid string
	err := k.run(ctx, a, func() (event, error) {
		var err error
		kid, err = k.km.Rotate(ctx, alg, immediate)
		return event{typ: "key.rotated", details: map[string]string{"kid": kid, "alg": alg, "now": strconv.FormatBool(immediate)}}, err
	})
	return kid, err
}

// Import adds a private key as the next key for alg.
func (k *Keys) Import(ctx context.Context, a Actor, alg string, priv any, immediate bool) (string, error) {
	var kid string
	err := k.run(ctx, a, func() (event, error) {
		var err error
		kid, err = k.km.Import(ctx, alg, priv, immediate)
		return event{typ: "key.imported", details: map[string]string{"kid": kid, "alg": alg, "now": strconv.FormatBool(immediate)}}, err
	})
	return kid, err
}

// Retire stops a key signing now; it stays published until what it signed
// has expired.
func (k *Keys) Retire(ctx context.Context, a Actor, kid string) error {
	return k.run(ctx, a, func() (event, error) {
		return event{typ: "key.retired", details: map[string]string{"kid": kid}}, k.km.Retire(ctx, kid)
	})
}

// Reencrypt seals every key and secret with the first configured secret;
// it returns how many it sealed again.
func (k *Keys) Reencrypt(ctx context.Context, a Actor) (int, error) {
	var n int
	err := k.run(ctx, a, func() (event, error) {
		var err error
		n, err = k.km.Reencrypt(ctx)
		return event{typ: "keys.reencrypted", details: map[string]string{"count": strconv.Itoa(n)}}, err
	})
	return n, err
}

// RotateHMAC starts a new secret for opaque tokens.
func (k *Keys) RotateHMAC(ctx context.Context, a Actor) error {
	return k.run(ctx, a, func() (event, error) { return event{typ: "key.hmac_rotated"}, k.km.RotateHMAC(ctx) })
}
