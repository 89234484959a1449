// Package email is the email first factor: a sign-in link and a 6-digit
// code sent to the account's address (amr "email"). The link and the code
// are made by Start and kept on the server only as HMACs, with their
// expiry, in the state the flow engine holds; Verify accepts either, once
// the engine has checked that the browser presenting it is the one that
// asked (a link opened elsewhere signs nothing in).
package email

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Lifetime is how long a link and its code work.
const Lifetime = 10 * time.Minute

// Step makes and checks sign-in links and codes.
type Step struct {
	// Key keys the HMACs the link and code are kept as.
	Key []byte
	Now func() time.Time
}

var _ authn.Authenticator = Step{}

// Secrets are what Start makes for the mail: never shown to the browser.
type Secrets struct {
	Link string `json:"link"`
	Code string `json:"code"`
}

type state struct {
	Link    []byte `json:"link"`
	Code    []byte `json:"code"`
	Expires int64  `json:"exp"`
}

// Method is "email".
func (Step) Method() string { return "email" }

func (s Step) mac(kind, v string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("email-login\x00" + kind + "\x00" + v))
	return m.Sum(nil)
}

// Start makes a 256-bit link token and a 6-digit code: Options holds them
// (Secrets, for the mail), State their HMACs and expiry.
func (s Step) Start(context.Context, authn.Attempt) (authn.Prompt, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return authn.Prompt{}, err
	}
	sec := Secrets{Link: httpx.RandomString(32), Code: fmt.Sprintf("%06d", n.Int64())}
	st, err := json.Marshal(state{Link: s.mac("link", sec.Link), Code: s.mac("code", sec.Code), Expires: s.Now().Add(Lifetime).Unix()})
	if err != nil {
		return authn.Prompt{}, err
	}
	opts, err := json.Marshal(sec)
	return authn.Prompt{Options: opts, State: st}, err
}

// Verify accepts the link token (Input.Credential) or the code
// (Input.Code) of the attempt's state, before it expires.
func (s Step) Verify(_ context.Context, a authn.Attempt, in authn.Input) (authn.Result, error) {
	var st state
	if err := json.Unmarshal(a.State, &st); err != nil || a.Subject == "" || !s.Now().Before(time.Unix(st.Expires, 0)) {
		return authn.Result{}, authn.ErrAuthFailed
	}
	ok := false
	if len(in.Credential) > 0 {
		ok = hmac.Equal(s.mac("link", string(in.Credential)), st.Link)
	} else if code := strings.ReplaceAll(strings.TrimSpace(in.Code), " ", ""); len(code) == 6 {
		ok = hmac.Equal(s.mac("code", code), st.Code)
	}
	if !ok {
		return authn.Result{}, authn.ErrAuthFailed
	}
	return authn.Result{Subject: a.Subject, AMR: []string{"email"}, AuthTime: s.Now()}, nil
}
