package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const userCols = `subject, email, email_verified, name, given_name, family_name, password_hash, disabled, created_at, updated_at, profile`

// selectUser reads a user with, in the same statement, whether the user
// has a second factor (an authenticator app or a passkey).
const selectUser = `SELECT ` + userCols + `, EXISTS (SELECT 1 FROM credentials c WHERE c.subject = users.subject AND c.type IN ('totp', 'webauthn')) FROM users`

func scanUser(r scanner) (storage.User, error) {
	var u storage.User
	var created, updated int64
	var profile string
	err := r.Scan(&u.Subject, &u.Email, &u.EmailVerified, &u.Name, &u.GivenName, &u.FamilyName, &u.PasswordHash, &u.Disabled, &created, &updated, &profile, &u.SecondFactor)
	u.CreatedAt, u.UpdatedAt = fromTS(created), fromTS(updated)
	if err == nil && profile != "{}" {
		if jerr := json.Unmarshal([]byte(profile), &u.Profile); jerr != nil {
			return u, fmt.Errorf("decode user profile: %w", jerr)
		}
	}
	return u, err
}

func profileJSON(p storage.Profile) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode user profile: %w", err)
	}
	return string(b), nil
}

// normalizeEmail is the one place emails are folded for lookups.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// CreateUser stores a new user; the email must be unique (case-insensitive).
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	profile, err := profileJSON(u.Profile)
	if err != nil {
		return err
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		u.Subject, normalizeEmail(u.Email), u.EmailVerified, u.Name, u.GivenName, u.FamilyName, u.PasswordHash, u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt), profile)
	return s.wrap(err)
}

// GetUser loads a user by subject.
func (s *Store) GetUser(ctx context.Context, subject string) (storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, selectUser+` WHERE subject = $1`, subject))
	return u, s.wrap(err)
}

// GetUserByEmail loads a user by email, case-insensitively.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, selectUser+` WHERE email = $1`, normalizeEmail(email)))
	return u, s.wrap(err)
}

// ListUsers lists every user, ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return queryAll(ctx, s, scanUser, selectUser+` ORDER BY email`)
}

// UpdateUser is a compare-and-swap on updated_at.
func (s *Store) UpdateUser(ctx context.Context, subject string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	old, err := s.GetUser(ctx, subject)
	if err != nil {
		return old, err
	}
	nu, err := fn(old)
	if err != nil {
		return old, err
	}
	nu.Subject = old.Subject
	if !nu.UpdatedAt.After(old.UpdatedAt) {
		nu.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
	}
	profile, err := profileJSON(nu.Profile)
	if err != nil {
		return old, err
	}
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE users SET email=$1, email_verified=$2, name=$3, given_name=$4, family_name=$5, password_hash=$6, disabled=$7, updated_at=$8, profile=$9 WHERE subject=$10 AND updated_at=$11`,
		normalizeEmail(nu.Email), nu.EmailVerified, nu.Name, nu.GivenName, nu.FamilyName, nu.PasswordHash, nu.Disabled, ts(nu.UpdatedAt), profile, subject, ts(old.UpdatedAt))
	if err != nil {
		return old, s.wrap(err)
	}
	if affected(res) == 0 {
		return old, storage.ErrConflict
	}
	return nu, nil
}

// DeleteUser removes a user and everything issued to them.
func (s *Store) DeleteUser(ctx context.Context, subject string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM users WHERE subject = $1`, subject)
		if err != nil {
			return s.wrap(err)
		}
		if affected(res) == 0 {
			return storage.ErrNotFound
		}
		_, _, err = s.RevokeSubject(ctx, subject, nil) // the sessions went with the user (ON DELETE CASCADE)
		return err
	})
}
