package web

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ceremonyUsed is the state of a finished ceremony.
const ceremonyUsed = "used"

// ceremonyLifetime is how long a ceremony can be finished.
const ceremonyLifetime = 10 * time.Minute

// Ceremony is a pending single-use step kept on the server (a flow row): an
// enrolment on the account page bound to one session, or a sign-in step
// bound to a login flow.
type Ceremony struct {
	Subject string `json:"subject"`
	SID     string `json:"sid"`
	// Flow is the login flow a sign-in ceremony belongs to.
	Flow string `json:"flow,omitempty"`
	// Name is the name of the passkey being added.
	Name string `json:"name,omitempty"`
	// Sealed is the TOTP secret being enrolled (sealed with the cipher).
	Sealed []byte `json:"sealed,omitempty"`
	// WebAuthn is the passkey registration session data (or an upstream
	// connector's private state).
	WebAuthn json.RawMessage `json:"webauthn,omitempty"`
	// Browser binds the ceremony to the browser that started it.
	Browser []byte `json:"browser,omitempty"`
}

// NewCeremony stores a ceremony of a kind under id.
func (k *Kit) NewCeremony(ctx context.Context, id, kind string, c Ceremony) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	now := k.o.Now().UTC()
	return k.o.Store.CreateFlow(ctx, storage.Flow{ID: id, State: kind, Data: b, CreatedAt: now, ExpiresAt: now.Add(ceremonyLifetime)})
}

// GetCeremony reads a pending ceremony of a kind.
func (k *Kit) GetCeremony(ctx context.Context, id, kind string) (Ceremony, error) {
	var c Ceremony
	if id == "" || len(id) > 128 {
		return c, storage.ErrNotFound
	}
	f, err := k.o.Store.GetFlow(ctx, id, k.o.Now())
	if err != nil {
		return c, err
	}
	if f.State != kind {
		return c, ErrWrongState
	}
	err = json.Unmarshal(f.Data, &c)
	return c, err
}

// SessionCeremony reads a pending ceremony of this session.
func (k *Kit) SessionCeremony(ctx context.Context, id, kind string, bs storage.BrowserSession) (Ceremony, error) {
	c, err := k.GetCeremony(ctx, id, kind)
	if err != nil {
		return c, err
	}
	if c.Subject != bs.Subject || !hmac.Equal([]byte(c.SID), []byte(bs.SID)) {
		return c, ErrWrongState
	}
	return c, nil
}

// UseCeremony ends a ceremony once (compare-and-swap).
func (k *Kit) UseCeremony(ctx context.Context, id, kind string) error {
	_, err := k.o.Store.UpdateFlow(ctx, id, k.o.Now(), func(f storage.Flow) (storage.Flow, error) {
		if f.State != kind {
			return f, ErrWrongState
		}
		f.State = ceremonyUsed
		return f, nil
	})
	return err
}

// TakeCeremony consumes a sign-in ceremony of a login flow (single use).
func (k *Kit) TakeCeremony(ctx context.Context, id, kind, flowID string) (Ceremony, error) {
	c, err := k.GetCeremony(ctx, id, kind)
	if err != nil {
		return c, err
	}
	if !hmac.Equal([]byte(c.Flow), []byte(flowID)) {
		return c, ErrWrongState
	}
	return c, k.UseCeremony(ctx, id, kind)
}
