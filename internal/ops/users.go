package ops

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// userStore is what the user operations need.
type userStore interface {
	storage.UserStore
	account.Store
	DeleteCredentials(ctx context.Context, subject string, typ storage.CredentialType) (int64, error)
}

// Users creates, changes and removes local accounts. Every change that
// alters who may act for an account (a new password, disabling, second
// factors reset) ends its sessions and revokes its tokens in the same
// transaction (package account).
type Users struct {
	st  userStore
	rec recorder
	now func() time.Time
	// links and mailer send mailed links (mailer nil: no mail).
	links  account.LinkStore
	mailer *account.Mailer
}

// ErrNoMail means no mail can be sent: email.host is not set.
var ErrNoMail = InvalidInput("no mail can be sent: set email.host")

// Invite makes an account for email without a password and mails it a
// link to choose one (7 days); the address is confirmed by that.
func (u *Users) Invite(ctx context.Context, a Actor, email, name string) (storage.User, error) {
	if u.mailer == nil {
		return storage.User{}, ErrNoMail
	}
	if !strings.Contains(email, "@") || strings.ContainsAny(email, "\r\n \t") {
		return storage.User{}, InvalidInput("email is not an email address")
	}
	now := u.now().UTC()
	user := storage.User{Subject: httpx.RandomID(16), Email: strings.ToLower(strings.TrimSpace(email)), Name: name, CreatedAt: now, UpdatedAt: now}
	err := u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		if err := u.st.CreateUser(ctx, user); err != nil {
			return event{}, err
		}
		return event{typ: "user.invited", subject: user.Subject}, account.SendInviteLink(ctx, u.links, *u.mailer, user, now)
	})
	return user, err
}

// SendRecovery mails a user a new password-recovery link (an operator
// forcing a reset; the password stays until the link is used).
func (u *Users) SendRecovery(ctx context.Context, a Actor, subject string) error {
	return u.send(ctx, a, subject, "user.recovery_sent", account.SendRecoveryLink)
}

// SendVerification mails a user a new link confirming its address.
func (u *Users) SendVerification(ctx context.Context, a Actor, subject string) error {
	return u.send(ctx, a, subject, "user.verification_sent", account.SendVerifyLink)
}

func (u *Users) send(ctx context.Context, a Actor, subject, typ string,
	send func(context.Context, account.LinkStore, account.Mailer, storage.User, time.Time) error) error {
	if u.mailer == nil {
		return ErrNoMail
	}
	return u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		user, err := u.st.GetUser(ctx, subject)
		if err != nil {
			return event{}, err
		}
		return event{typ: typ, subject: subject}, send(ctx, u.links, *u.mailer, user, u.now().UTC())
	})
}

// List returns every user, sorted by email.
func (u *Users) List(ctx context.Context) ([]storage.User, error) { return u.st.ListUsers(ctx) }

// Get returns one user.
func (u *Users) Get(ctx context.Context, subject string) (storage.User, error) {
	return u.st.GetUser(ctx, subject)
}

// ByEmail returns the user with an email address.
func (u *Users) ByEmail(ctx context.Context, email string) (storage.User, error) {
	return u.st.GetUserByEmail(ctx, email)
}

// hash checks and hashes a password an operator sets.
func hash(pw string) (string, error) {
	h, err := password.Hash(pw)
	if err != nil {
		return "", InvalidInput(err.Error())
	}
	return h, nil
}

// Create stores a new local account with a verified email address.
func (u *Users) Create(ctx context.Context, a Actor, email, name, pw string) (storage.User, error) {
	if !strings.Contains(email, "@") {
		return storage.User{}, InvalidInput("email is not an email address")
	}
	h, err := hash(pw)
	if err != nil {
		return storage.User{}, err
	}
	now := u.now().UTC()
	user := storage.User{Subject: httpx.RandomID(16), Email: strings.ToLower(strings.TrimSpace(email)), EmailVerified: true, Name: name,
		PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	err = u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "user.created", subject: user.Subject}, u.st.CreateUser(ctx, user)
	})
	return user, err
}

// Delete removes a user with its sessions, consents, credentials and
// tokens.
func (u *Users) Delete(ctx context.Context, a Actor, subject string) error {
	return u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "user.deleted", subject: subject}, u.st.DeleteUser(ctx, subject)
	})
}

// SetPassword gives a user a new password, signs them out everywhere and
// revokes their tokens.
func (u *Users) SetPassword(ctx context.Context, a Actor, subject, pw string) (storage.User, error) {
	h, err := hash(pw)
	if err != nil {
		return storage.User{}, err
	}
	var user storage.User
	err = u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		user, err = account.SetPassword(ctx, u.st, subject, h, nil, u.now())
		return event{typ: "user.password_set", subject: subject}, err
	})
	return user, err
}

// SetProfile replaces a user's name and standard claims.
func (u *Users) SetProfile(ctx context.Context, a Actor, subject string, p account.ProfileUpdate) (storage.User, error) {
	var user storage.User
	err := u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		user, err = account.SetProfile(ctx, u.st, subject, p, u.now())
		if errors.Is(err, account.ErrInvalidProfile) {
			err = InvalidInput(err.Error())
		}
		return event{typ: "user.profile_set", subject: subject}, err
	})
	return user, err
}

// SetDisabled disables or enables an account; disabling signs the user out
// and revokes their tokens.
func (u *Users) SetDisabled(ctx context.Context, a Actor, subject string, disabled bool) (storage.User, error) {
	var user storage.User
	err := u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		user, err = account.SetDisabled(ctx, u.st, subject, disabled, u.now())
		return event{typ: "user.disabled_set", subject: subject, details: map[string]string{"disabled": strconv.FormatBool(disabled)}}, err
	})
	return user, err
}

// ResetFactors removes a user's passkeys, authenticator app and backup
// codes and signs the user out everywhere (a user who lost them all). It
// returns the user and how many credentials went.
func (u *Users) ResetFactors(ctx context.Context, a Actor, subject string) (storage.User, int64, error) {
	var user storage.User
	var removed int64
	err := u.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		if user, err = u.st.GetUser(ctx, subject); err != nil {
			return event{}, err
		}
		removed, err = account.ResetFactors(ctx, u.st, subject)
		user.SecondFactor = false
		return event{typ: "user.factors_reset", subject: subject, details: map[string]string{"removed": strconv.FormatInt(removed, 10)}}, err
	})
	return user, removed, err
}
