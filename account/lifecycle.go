// Package account is a local account's self-service and lifecycle. The
// account pages (Pages) let a signed-in user see their account and change
// how they sign in: the authenticator app, backup codes, passkeys and
// linked upstream accounts. The lifecycle functions are what can happen to
// an account whoever asks (the operator service for the admin API and the
// CLI, the pages for the user): a new password, disabling, second factors
// reset, the profile. Revocation follows the account: every change that
// alters who may act for it ends its sessions and tokens in the same
// transaction.
package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Store is what the account changes need: one user's row, the revocation
// of what it holds, and a transaction around both.
type Store interface {
	UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error)
	storage.Revoker
	storage.TxRunner
}

// Revocation follows the account: whenever who may act for an account
// changes (disabled, deleted, a new password, second factors reset), the
// same storage.Revoker.RevokeSubject ends its browser sessions and every
// token issued for it, in the transaction that makes the change.

// SetPassword replaces a user's password hash and ends what the old one let
// in: every session but keepSession (the one a user changing their own
// password is using; nil for none) and every token.
func SetPassword(ctx context.Context, st Store, subject, hash string, keepSession []byte, now time.Time) (storage.User, error) {
	return changeAccount(ctx, st, subject, true, keepSession, func(u *storage.User) { u.PasswordHash = hash }, now)
}

// SetDisabled disables or enables an account; disabling ends its sessions
// and revokes its tokens.
func SetDisabled(ctx context.Context, st Store, subject string, disabled bool, now time.Time) (storage.User, error) {
	return changeAccount(ctx, st, subject, disabled, nil, func(u *storage.User) { u.Disabled = disabled }, now)
}

// changeAccount updates a user and, when revoke, ends its sessions (but
// keepSession) and tokens, in one transaction.
func changeAccount(ctx context.Context, st Store, subject string, revoke bool, keepSession []byte, change func(*storage.User), now time.Time) (storage.User, error) {
	var u storage.User
	err := st.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = st.UpdateUser(ctx, subject, func(u storage.User) (storage.User, error) {
			change(&u)
			u.UpdatedAt = now.UTC()
			return u, nil
		}); err != nil || !revoke {
			return err
		}
		_, _, err = st.RevokeSubject(ctx, subject, keepSession)
		return err
	})
	return u, err
}

// FactorStore is what ResetFactors needs.
type FactorStore interface {
	DeleteCredentials(ctx context.Context, subject string, typ storage.CredentialType) (int64, error)
	storage.Revoker
	storage.TxRunner
}

// ResetFactors removes a user's passkeys, authenticator app and backup
// codes, signs the user out everywhere and revokes the user's tokens, in one
// transaction: for a user who lost them all (admin API and CLI; the caller
// audits it). It returns how many credentials went.
func ResetFactors(ctx context.Context, st FactorStore, subject string) (int64, error) {
	removed := int64(0)
	err := st.InTx(ctx, func(ctx context.Context) error {
		for _, typ := range []storage.CredentialType{storage.CredentialWebAuthn, storage.CredentialTOTP, storage.CredentialBackupCode} {
			n, err := st.DeleteCredentials(ctx, subject, typ)
			if err != nil {
				return err
			}
			removed += n
		}
		_, _, err := st.RevokeSubject(ctx, subject, nil)
		return err
	})
	return removed, err
}

// ProfileUpdate is a user's name and standard claims as an operator (or,
// later, the user) sets them; every field is replaced.
type ProfileUpdate struct {
	Name       string `json:"name"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	storage.Profile
}

var birthdateRe = regexp.MustCompile(`^(\d{4}|0000)(-\d{2}-\d{2})?$`)

// Validate checks a profile update: lengths, URLs, the birthdate format.
func (p ProfileUpdate) Validate() error {
	fields := map[string]string{"name": p.Name, "given_name": p.GivenName, "family_name": p.FamilyName, "middle_name": p.MiddleName,
		"nickname": p.Nickname, "preferred_username": p.PreferredUsername, "gender": p.Gender, "zoneinfo": p.Zoneinfo, "locale": p.Locale,
		"phone_number": p.PhoneNumber, "picture": p.Picture, "website": p.Website, "birthdate": p.Birthdate, "profile": p.ProfileURL}
	if a := p.Address; a != nil {
		for k, v := range map[string]string{"address.formatted": a.Formatted, "address.street_address": a.StreetAddress, "address.locality": a.Locality,
			"address.region": a.Region, "address.postal_code": a.PostalCode, "address.country": a.Country} {
			fields[k] = v
		}
	}
	for k, v := range fields {
		if utf8.RuneCountInString(v) > 500 {
			return fmt.Errorf("%s is longer than 500 characters", k)
		}
	}
	for k, v := range map[string]string{"picture": p.Picture, "website": p.Website, "profile": p.ProfileURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			return fmt.Errorf("%s %q is not an http(s) URL", k, v)
		}
	}
	if p.Birthdate != "" && !birthdateRe.MatchString(p.Birthdate) {
		return fmt.Errorf("birthdate %q: use YYYY-MM-DD, 0000-MM-DD or YYYY (OpenID Connect Core §5.1)", p.Birthdate)
	}
	return nil
}

// SetProfile replaces a user's name and standard claims.
func SetProfile(ctx context.Context, st interface {
	UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error)
}, subject string, p ProfileUpdate, now time.Time) (storage.User, error) {
	if err := p.Validate(); err != nil {
		return storage.User{}, fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	if p.Address != nil && *p.Address == (storage.Address{}) {
		p.Address = nil
	}
	return st.UpdateUser(ctx, subject, func(u storage.User) (storage.User, error) {
		u.Name, u.GivenName, u.FamilyName, u.Profile, u.UpdatedAt = p.Name, p.GivenName, p.FamilyName, p.Profile, now.UTC()
		return u, nil
	})
}

// ErrInvalidProfile wraps a profile update that does not validate.
var ErrInvalidProfile = errors.New("invalid profile")

// GrantStore is what RevokeGrant needs.
type GrantStore interface {
	DeleteConsent(ctx context.Context, subject, clientID string) error
	DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error)
	storage.TxRunner
}

// RevokeGrant forgets a user's consent to a client and revokes every token
// the client holds for the user, in one transaction (the operator's "revoke
// grant" and the user's "remove access"). It returns how many tokens went.
func RevokeGrant(ctx context.Context, st GrantStore, subject, clientID string) (int64, error) {
	var n int64
	err := st.InTx(ctx, func(ctx context.Context) error {
		if err := st.DeleteConsent(ctx, subject, clientID); err != nil {
			return err
		}
		var err error
		n, err = st.DeleteTokensOf(ctx, subject, clientID)
		return err
	})
	return n, err
}
