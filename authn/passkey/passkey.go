// Package passkey is the WebAuthn step (go-webauthn): signing in with a
// passkey, passwordless or as a second factor, with clone detection, and
// registering new passkeys. The ceremonies' session data is returned to
// the caller, which keeps it on the server until the answer comes.
package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Config names the passkey relying party.
type Config struct {
	// RPID is the registrable domain passkeys are bound to (the issuer's host).
	RPID string
	// Origins are the exact origins ceremonies may come from.
	Origins []string
	// DisplayName is what the browser shows ("gatehouse").
	DisplayName string
}

// Store is what passkeys need: the user they belong to and the user's
// passkeys.
type Store interface {
	GetUser(ctx context.Context, subject string) (storage.User, error)
	CreateCredential(ctx context.Context, c storage.Credential) error
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
	UpdateCredential(ctx context.Context, id string, fn func(storage.Credential) (storage.Credential, error)) (storage.Credential, error)
}

// Step signs in with a passkey, passwordless (a discoverable credential
// with user verification) when no user is known yet or as a second factor
// for a known one, and registers new passkeys.
type Step struct {
	wa    *webauthn.WebAuthn
	store Store
	now   func() time.Time
}

var _ authn.Authenticator = (*Step)(nil)

// New returns the passkey step for the relying party c.
func New(c Config, st Store, now func() time.Time) (*Step, error) {
	if c.DisplayName == "" {
		c.DisplayName = "gatehouse"
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: c.RPID, RPDisplayName: c.DisplayName, RPOrigins: c.Origins,
		AttestationPreference: protocol.PreferNoAttestation})
	if err != nil {
		return nil, err
	}
	return &Step{wa: wa, store: st, now: now}, nil
}

// Meta is a passkey's public details, kept in storage.Credential.Data.
type Meta struct {
	// CloneWarning is set when the signature counter went backwards.
	CloneWarning bool                `json:"clone_warning,omitempty"`
	Credential   webauthn.Credential `json:"credential"`
}

// waUser is a gatehouse user as go-webauthn sees it. The user handle is the
// subject: opaque, stable and free of personal data.
type waUser struct {
	subject, name string
	creds         []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.subject) }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credentialID is how a passkey's raw id is stored (Credential.ID).
func credentialID(raw []byte) string { return "wa_" + base64.RawURLEncoding.EncodeToString(raw) }

// loadUser reads a user and their passkeys.
func (p *Step) loadUser(ctx context.Context, subject string) (*waUser, error) {
	u, err := p.store.GetUser(ctx, subject)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, authn.ErrAuthFailed
	}
	stored, err := p.store.ListCredentials(ctx, subject, storage.CredentialWebAuthn)
	if err != nil {
		return nil, err
	}
	wu := &waUser{subject: subject, name: u.Email}
	for _, c := range stored {
		var m Meta
		if err := json.Unmarshal(c.Data, &m); err != nil {
			return nil, fmt.Errorf("decode passkey %s: %w", c.ID, err)
		}
		m.Credential.Authenticator.SignCount = uint32(c.Counter)
		wu.creds = append(wu.creds, m.Credential)
	}
	return wu, nil
}

// Method is "passkey".
func (*Step) Method() string { return "passkey" }

// Start makes a challenge: for any discoverable passkey without a subject,
// for the subject's passkeys with one.
func (p *Step) Start(ctx context.Context, a authn.Attempt) (authn.Prompt, error) {
	var opts *protocol.CredentialAssertion
	var sd *webauthn.SessionData
	var err error
	if a.Subject == "" {
		opts, sd, err = p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		var u *waUser
		if u, err = p.loadUser(ctx, a.Subject); err != nil {
			return authn.Prompt{}, err
		}
		if len(u.creds) == 0 {
			return authn.Prompt{}, authn.ErrAuthFailed
		}
		opts, sd, err = p.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	}
	if err != nil {
		return authn.Prompt{}, fmt.Errorf("begin passkey login: %w", err)
	}
	o, err := json.Marshal(opts.Response)
	if err != nil {
		return authn.Prompt{}, err
	}
	st, err := json.Marshal(sd)
	if err != nil {
		return authn.Prompt{}, err
	}
	return authn.Prompt{Options: o, State: st}, nil
}

// errPasskey wraps why a passkey was refused; it is an authn.ErrAuthFailed.
func errPasskey(why string, err error) error {
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.DevInfo != "" {
			why += ": " + pe.Details + " (" + pe.DevInfo + ")"
		} else {
			why += ": " + err.Error()
		}
	}
	return fmt.Errorf("%w: passkey %s", authn.ErrAuthFailed, why)
}

// Verify checks an assertion against its challenge, refuses a passkey
// whose counter went backwards (and flags it), and records the use.
func (p *Step) Verify(ctx context.Context, a authn.Attempt, in authn.Input) (authn.Result, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(a.State, &sd); err != nil || sd.Challenge == "" {
		return authn.Result{}, errPasskey("ceremony is missing", err)
	}
	if len(in.Credential) == 0 || len(in.Credential) > 64<<10 {
		return authn.Result{}, errPasskey("response is missing", nil)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return authn.Result{}, errPasskey("response is malformed", err)
	}
	var user *waUser
	var cred *webauthn.Credential
	if a.Subject == "" {
		var found webauthn.User
		found, cred, err = p.wa.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			return p.loadUser(ctx, string(handle))
		}, sd, parsed)
		if err == nil {
			user = found.(*waUser)
		}
	} else {
		if user, err = p.loadUser(ctx, a.Subject); err == nil {
			cred, err = p.wa.ValidateLogin(user, sd, parsed)
		}
	}
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return authn.Result{}, err
		}
		return authn.Result{}, errPasskey("assertion is not valid", err)
	}
	id := credentialID(cred.ID)
	now := p.now().UTC()
	if cred.Authenticator.CloneWarning {
		// The counter went backwards: a copy of the key may exist. Flag the
		// passkey (the account page says so) and refuse it.
		_, uerr := p.store.UpdateCredential(ctx, id, func(c storage.Credential) (storage.Credential, error) {
			var m Meta
			if err := json.Unmarshal(c.Data, &m); err != nil {
				return c, err
			}
			m.CloneWarning = true
			b, err := json.Marshal(m)
			c.Data = b
			return c, err
		})
		if uerr != nil {
			return authn.Result{}, uerr
		}
		return authn.Result{Subject: user.subject}, errPasskey("signature counter went backwards (possible cloned authenticator)", nil)
	}
	_, err = p.store.UpdateCredential(ctx, id, func(c storage.Credential) (storage.Credential, error) {
		if c.Subject != user.subject {
			return c, authn.ErrAuthFailed
		}
		if cred.Authenticator.SignCount != 0 && int64(cred.Authenticator.SignCount) <= c.Counter {
			return c, errPasskey("signature counter did not advance", nil) // a concurrent use won
		}
		var m Meta
		if err := json.Unmarshal(c.Data, &m); err != nil {
			return c, err
		}
		m.Credential = *cred
		b, err := json.Marshal(m)
		c.Data, c.Counter, c.LastUsedAt = b, int64(cred.Authenticator.SignCount), now
		return c, err
	})
	if errors.Is(err, storage.ErrConflict) {
		return authn.Result{}, errPasskey("used concurrently", nil)
	}
	if err != nil {
		return authn.Result{}, err
	}
	return authn.Result{Subject: user.subject, AMR: passkeyAMR(cred, parsed.Response.AuthenticatorData.Flags), AuthTime: now}, nil
}

// passkeyAMR: "swk" for a synced passkey (backup-eligible: the key leaves
// the hardware), "hwk" for a device-bound one, plus "user" when the
// authenticator verified the user (PIN or biometric).
func passkeyAMR(c *webauthn.Credential, flags protocol.AuthenticatorFlags) []string {
	amr := []string{"hwk"}
	if c.Flags.BackupEligible {
		amr[0] = "swk"
	}
	if flags.HasUserVerified() {
		amr = append(amr, "user")
	}
	return amr
}

// BeginRegistration starts adding a passkey for a user: a
// discoverable credential with user verification, excluding the ones the
// user has.
func (p *Step) BeginRegistration(ctx context.Context, subject string) (json.RawMessage, []byte, error) {
	u, err := p.loadUser(ctx, subject)
	if err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	opts, sd, err := p.wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(), UserVerification: protocol.VerificationRequired}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	o, err := json.Marshal(opts.Response)
	if err != nil {
		return nil, nil, err
	}
	st, err := json.Marshal(sd)
	return o, st, err
}

// FinishRegistration verifies the browser's attestation and stores
// the passkey. Nothing is stored when any check fails.
func (p *Step) FinishRegistration(ctx context.Context, subject, name string, state, response []byte) (storage.Credential, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(state, &sd); err != nil || sd.Challenge == "" {
		return storage.Credential{}, errPasskey("ceremony is missing", err)
	}
	if len(response) == 0 || len(response) > 64<<10 {
		return storage.Credential{}, errPasskey("response is missing", nil)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return storage.Credential{}, errPasskey("response is malformed", err)
	}
	u, err := p.loadUser(ctx, subject)
	if err != nil {
		return storage.Credential{}, err
	}
	cred, err := p.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		return storage.Credential{}, errPasskey("registration is not valid", err)
	}
	for _, c := range u.creds {
		if bytes.Equal(c.ID, cred.ID) {
			return storage.Credential{}, errPasskey("is already registered", nil)
		}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if len(name) > 64 {
		name = name[:64]
	}
	b, err := json.Marshal(Meta{Credential: *cred})
	if err != nil {
		return storage.Credential{}, err
	}
	now := p.now().UTC()
	c := storage.Credential{ID: credentialID(cred.ID), Subject: subject, Type: storage.CredentialWebAuthn, Name: name,
		Secret: cred.PublicKey, Data: b, Counter: int64(cred.Authenticator.SignCount), CreatedAt: now, LastUsedAt: now}
	if err := p.store.CreateCredential(ctx, c); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Credential{}, errPasskey("is already registered", nil)
		}
		return storage.Credential{}, err
	}
	return c, nil
}
