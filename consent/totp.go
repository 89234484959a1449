package consent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// totpPeriod is the TOTP time step (RFC 6238 default, what every app uses).
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Sealer encrypts secrets at rest (keys.Cipher): the AAD binds a ciphertext
// to its row.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// credentialAAD binds a sealed credential secret to its row.
func credentialAAD(id string) []byte { return []byte("credentials.secret:" + id) }

// matchTOTP finds the time step whose code is code, within ±1 step of now
// and strictly after last (the step used before), so neither the same code
// nor an earlier one passes twice. It compares in constant time.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	found := int64(0)
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > last && found == 0 {
			found = step
		}
	}
	return found, found != 0
}

// totpStep verifies a code from the user's authenticator app.
type totpStep struct{ s *Service }

func (totpStep) Method() string { return "otp" }

func (totpStep) Start(context.Context, Attempt) (Prompt, error) { return Prompt{}, nil }

func (t totpStep) Verify(ctx context.Context, a Attempt, in Input) (Result, error) {
	creds, err := t.s.o.Store.ListCredentials(ctx, a.Subject, storage.CredentialTOTP)
	if err != nil {
		return Result{}, err
	}
	if len(creds) == 0 || a.Subject == "" {
		return Result{}, ErrAuthFailed
	}
	c := creds[0]
	seed, err := t.s.o.Cipher.Open(c.Secret, credentialAAD(c.ID))
	if err != nil {
		return Result{}, fmt.Errorf("open TOTP secret: %w", err)
	}
	now := t.s.o.Now()
	step, ok := matchTOTP(string(seed), in.Code, now, c.Counter)
	if !ok {
		return Result{}, ErrAuthFailed
	}
	_, err = t.s.o.Store.UpdateCredential(ctx, c.ID, func(cur storage.Credential) (storage.Credential, error) {
		if cur.Counter >= step { // a concurrent use of the same code won
			return cur, ErrAuthFailed
		}
		cur.Counter, cur.LastUsedAt = step, now.UTC()
		return cur, nil
	})
	if errors.Is(err, storage.ErrConflict) {
		return Result{}, ErrAuthFailed
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Subject: a.Subject, AMR: []string{"otp"}, AuthTime: now}, nil
}

// newTOTPKey makes a new TOTP secret for an account.
func (s *Service) newTOTPKey(account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: s.o.TOTPIssuer, AccountName: account, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
}

// totpKeyFor is the otpauth:// URI of an existing secret.
func (s *Service) totpKeyFor(account, secret string) (string, error) {
	v := url.Values{"secret": {secret}, "issuer": {s.o.TOTPIssuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + s.o.TOTPIssuer + ":" + account, RawQuery: v.Encode()}
	return u.String(), nil
}

// qrSVG renders text as a QR code in inline SVG, on the server: no external
// service ever sees the secret, and the page's CSP needs no exception.
func qrSVG(text string) (template.HTML, error) {
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
	return template.HTML(sb.String()), nil // #nosec: built from numbers only
}
