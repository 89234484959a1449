package password

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Users is what the password step needs: the account an email names,
// and a way to store an upgraded hash.
type Users interface {
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error)
}

// Step is the password as a first factor (amr "pwd").
type Step struct {
	Users  Users
	Hasher *Hasher
	Now    func() time.Time
	Log    *slog.Logger
	// RequireVerified refuses an account whose email is not confirmed yet
	// (ErrUnverified, after a right password only).
	RequireVerified bool
}

// ErrUnverified is a right password for an account whose email address is
// not confirmed yet: the page asks to open the link first.
var ErrUnverified = errors.New("the email address is not confirmed yet")

var _ authn.Authenticator = Step{}

// Method is "pwd".
func (Step) Method() string { return "pwd" }

// Start has nothing to prepare.
func (Step) Start(context.Context, authn.Attempt) (authn.Prompt, error) { return authn.Prompt{}, nil }

// Verify checks the email and password; a wrong pair is an
// authn.ErrAuthFailed that still names the account it was for (for the
// attempt limiter and the audit log), if there is one.
func (p Step) Verify(ctx context.Context, _ authn.Attempt, in authn.Input) (authn.Result, error) {
	u, err := p.Authenticate(ctx, in.Email, in.Password)
	if errors.Is(err, ErrInvalidLogin) {
		return authn.Result{Subject: u.Subject}, fmt.Errorf("%w: %w", authn.ErrAuthFailed, err)
	}
	if err != nil {
		return authn.Result{}, err
	}
	if p.RequireVerified && !u.EmailVerified {
		return authn.Result{Subject: u.Subject}, ErrUnverified
	}
	return authn.Result{Subject: u.Subject, AMR: []string{"pwd"}, AuthTime: p.Now()}, nil
}

// ErrInvalidLogin is a wrong email or password (one answer for both).
var ErrInvalidLogin = errors.New("invalid email or password")

// Authenticate checks credentials with the same cost whether or not
// the account exists or has a password, and upgrades outdated hashes.
func (p Step) Authenticate(ctx context.Context, email, secret string) (storage.User, error) {
	var user storage.User
	if email != "" && secret != "" {
		u, err := p.Users.GetUserByEmail(ctx, email)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return user, err
		}
		user = u
	}
	rehash, err := p.Hasher.Verify(ctx, user.PasswordHash, secret)
	if errors.Is(err, ErrBusy) || ctx.Err() != nil {
		return storage.User{}, errors.Join(err, ctx.Err())
	}
	if err != nil || user.Subject == "" || user.Disabled {
		if err != nil && !errors.Is(err, ErrMismatch) {
			p.Log.Warn("password hash unusable", "subject", user.Subject, "err", err)
		}
		return user, ErrInvalidLogin
	}
	if rehash {
		if h, err := p.Hasher.Hash(ctx, secret); err == nil {
			_, err = p.Users.UpdateUser(ctx, user.Subject, func(u storage.User) (storage.User, error) {
				u.PasswordHash, u.UpdatedAt = h, p.Now().UTC()
				return u, nil
			})
			if err != nil {
				p.Log.Warn("password rehash failed", "subject", user.Subject, "err", err)
			}
		}
	}
	return user, nil
}
