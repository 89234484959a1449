// Package upstream is the "Login with …" step: an identity an upstream
// provider vouched for (package federation) mapped to a local account. A
// linked identity signs in to its account; an identity whose email belongs
// to an account it is not linked to is never linked silently (the user
// signs in to that account first, and the link is made then); a new one
// gets an account when the provider allows sign-up. The pages around it
// (the redirect upstream and back) live in package consent.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// IdP is a configured upstream identity provider.
type IdP struct {
	// ID names it in URLs and stored links; Type picks the button's icon.
	ID, Name, Type string
	Connector      federation.Connector
	// AllowSignup creates a local account at the first login.
	AllowSignup bool
	// StoreTokens keeps the upstream's token response, sealed.
	StoreTokens bool
}

// Store is what the mapping needs: the links, the accounts they lead to,
// and a transaction to create an account with its link.
type Store interface {
	GetFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string) (storage.FederatedIdentity, error)
	TouchFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string, at time.Time, token []byte) error
	CreateFederatedIdentity(ctx context.Context, fi storage.FederatedIdentity) error
	CreateUser(ctx context.Context, u storage.User) error
	GetUser(ctx context.Context, subject string) (storage.User, error)
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	storage.TxRunner
}

// Why an identity signs in to no account; each is an authn.ErrAuthFailed.
var (
	// ErrDisabled: the linked account is disabled.
	ErrDisabled = fmt.Errorf("%w: the account is disabled", authn.ErrAuthFailed)
	// ErrNoAccount: no linked account, and sign-up is off.
	ErrNoAccount = fmt.Errorf("%w: no account for this upstream identity", authn.ErrAuthFailed)
	// ErrNeedsEmail: sign-up needs a verified email the upstream did not give.
	ErrNeedsEmail = fmt.Errorf("%w: sign-up needs a verified email", authn.ErrAuthFailed)
	// ErrRace: a concurrent sign-up with the same identity or email won.
	ErrRace = fmt.Errorf("%w: a concurrent sign-up won", authn.ErrAuthFailed)
)

// Outcome is where an upstream identity leads.
type Outcome struct {
	// Result is the sign-in, when the identity led to an account.
	Result authn.Result
	// Created: the account was made now (sign-up).
	Created bool
	// LinkTo is the account with the identity's email, to be signed in to
	// before the identity is linked to it (nil otherwise; Result is empty).
	LinkTo *storage.User
}

// Mapper maps identities to accounts.
type Mapper struct {
	Store Store
	Now   func() time.Time
}

// Map finds or makes the account ident signs in to. token is the sealed
// upstream token to keep with the link (nil: none).
func (m Mapper) Map(ctx context.Context, idp IdP, ident federation.Identity, token []byte) (Outcome, error) {
	now := m.Now().UTC()
	signedIn := func(subject string) Outcome {
		return Outcome{Result: authn.Result{Subject: subject, AMR: AMR(ident.AMR), AuthTime: now}}
	}
	fi, err := m.Store.GetFederatedIdentity(ctx, idp.ID, ident.Subject)
	switch {
	case err == nil:
		if err := m.Store.TouchFederatedIdentity(ctx, idp.ID, ident.Subject, now, token); err != nil {
			return Outcome{}, err
		}
		u, err := m.Store.GetUser(ctx, fi.Subject)
		if err != nil {
			return Outcome{}, err
		}
		if u.Disabled {
			return Outcome{}, ErrDisabled
		}
		return signedIn(u.Subject), nil
	case !errors.Is(err, storage.ErrNotFound):
		return Outcome{}, err
	}
	if ident.Email != "" {
		existing, err := m.Store.GetUserByEmail(ctx, ident.Email)
		if err == nil {
			return Outcome{LinkTo: &existing}, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return Outcome{}, err
		}
	}
	switch {
	case !idp.AllowSignup:
		return Outcome{}, ErrNoAccount
	case ident.Email == "":
		return Outcome{}, ErrNeedsEmail
	}
	u := storage.User{Subject: httpx.RandomID(16), Email: ident.Email, EmailVerified: true, Name: ident.Name, CreatedAt: now, UpdatedAt: now}
	err = m.Store.InTx(ctx, func(ctx context.Context) error {
		if err := m.Store.CreateUser(ctx, u); err != nil {
			return err
		}
		return m.Store.CreateFederatedIdentity(ctx, storage.FederatedIdentity{ConnectorID: idp.ID, UpstreamSubject: ident.Subject, Subject: u.Subject,
			Email: ident.Email, Username: ident.Username, Token: token, CreatedAt: now, LastUsedAt: now})
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return Outcome{}, ErrRace
	}
	if err != nil {
		return Outcome{}, err
	}
	out := signedIn(u.Subject)
	out.Created = true
	return out, nil
}

// AMR is "fed" plus the upstream's own amr values (trusted connectors
// only), kept apart as "fed:<value>" for the policy.
func AMR(upstream []string) []string {
	amr := []string{"fed"}
	for _, v := range upstream {
		amr = append(amr, "fed:"+v)
	}
	return amr
}
