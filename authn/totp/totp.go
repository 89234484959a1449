// Package totp is the authenticator-app step (RFC 6238, six digits, 30 s):
// verifying a code once, and the enrolment helpers (a new secret, its
// otpauth:// URI, a QR code drawn on the server).
package totp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Period is the TOTP time step (RFC 6238 default, what every app uses).
const Period = 30

var opts = totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Match finds the time step whose code is code, within ±1 step of now
// and strictly after last (the step used before), so neither the same code
// nor an earlier one passes twice. It compares in constant time.
func Match(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / Period
	found := int64(0)
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*Period, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > last && found == 0 {
			found = step
		}
	}
	return found, found != 0
}

// Store is what the step needs: the user's TOTP credential and a
// compare-and-swap on its last used time step.
type Store interface {
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
	UpdateCredential(ctx context.Context, id string, fn func(storage.Credential) (storage.Credential, error)) (storage.Credential, error)
}

// Step verifies a code from the user's authenticator app, as a second
// factor (amr "otp").
type Step struct {
	Store Store
	// Cipher opens the sealed TOTP secret.
	Cipher authn.Sealer
	Now    func() time.Time
}

var _ authn.Authenticator = Step{}

// Method is "otp".
func (Step) Method() string { return "otp" }

// Start has nothing to prepare.
func (Step) Start(context.Context, authn.Attempt) (authn.Prompt, error) { return authn.Prompt{}, nil }

// Verify accepts a code of the current time step (±1) once: neither the
// same code nor an earlier one passes twice, even when two requests race.
func (t Step) Verify(ctx context.Context, a authn.Attempt, in authn.Input) (authn.Result, error) {
	creds, err := t.Store.ListCredentials(ctx, a.Subject, storage.CredentialTOTP)
	if err != nil {
		return authn.Result{}, err
	}
	if len(creds) == 0 || a.Subject == "" {
		return authn.Result{}, authn.ErrAuthFailed
	}
	c := creds[0]
	seed, err := t.Cipher.Open(c.Secret, authn.CredentialAAD(c.ID))
	if err != nil {
		return authn.Result{}, fmt.Errorf("open TOTP secret: %w", err)
	}
	now := t.Now()
	step, ok := Match(string(seed), in.Code, now, c.Counter)
	if !ok {
		return authn.Result{}, authn.ErrAuthFailed
	}
	_, err = t.Store.UpdateCredential(ctx, c.ID, func(cur storage.Credential) (storage.Credential, error) {
		if cur.Counter >= step { // a concurrent use of the same code won
			return cur, authn.ErrAuthFailed
		}
		cur.Counter, cur.LastUsedAt = step, now.UTC()
		return cur, nil
	})
	if errors.Is(err, storage.ErrConflict) {
		return authn.Result{}, authn.ErrAuthFailed
	}
	if err != nil {
		return authn.Result{}, err
	}
	return authn.Result{Subject: a.Subject, AMR: []string{"otp"}, AuthTime: now}, nil
}

// NewKey makes a new TOTP secret for an account; issuer is the name
// authenticator apps show.
func NewKey(issuer, account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: Period,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
}

// KeyURI is the otpauth:// URI of an existing secret.
func KeyURI(issuer, account, secret string) string {
	v := url.Values{"secret": {secret}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// QRSVG renders text as a QR code in inline SVG, on the server: no
// external service ever sees the secret, and the page's CSP needs no
// exception. The markup is built from numbers only, safe to embed as is.
func QRSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	b := code.Bounds()
	n := b.Dx()
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-4 -4 %d %d" width="200" height="200" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect x="-4" y="-4" width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n+8, n+8, n+8, n+8)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < n; x++ {
			if r, _, _, _ := code.At(b.Min.X+x, b.Min.Y+y).RGBA(); r == 0 {
				fmt.Fprintf(&sb, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	sb.WriteString(`"/></svg>`)
	return sb.String(), nil
}
