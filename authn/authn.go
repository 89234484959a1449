// Package authn is what every sign-in step shares: the Authenticator
// interface the flow engine (package consent) drives, the attempt a step is
// part of, its input and its result. Each step lives in a package of its
// own under authn/ (password, totp, backup, and the passkey and upstream
// steps that follow) with a store interface of its own; none of them knows
// the engine.
package authn

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Authenticator is one login step: a password, a passkey, a TOTP code or a
// backup code. Steps never touch the http.ResponseWriter, so each one is
// table-testable; the pages call them and the flow keeps their state.
type Authenticator interface {
	// Method names the step ("pwd", "passkey", "otp", "backup").
	Method() string
	// Start prepares the step (a passkey challenge); State in the returned
	// Prompt is kept server-side in the flow until Verify.
	Start(ctx context.Context, a Attempt) (Prompt, error)
	// Verify checks the user's answer. A wrong answer is ErrAuthFailed (or
	// wraps it); other errors are the server's.
	Verify(ctx context.Context, a Attempt, in Input) (Result, error)
}

// Attempt is what a step knows about the login it is part of.
type Attempt struct {
	// Subject is the user already identified by an earlier factor ("" for
	// a first factor).
	Subject string
	// State is what Start left (single use).
	State []byte
}

// Prompt is what Start gives the page.
type Prompt struct {
	// Options is the browser's part (WebAuthn options as JSON), or nil.
	Options json.RawMessage
	// State stays on the server, in the flow, until Verify.
	State []byte
}

// Input is the user's answer to a step.
type Input struct {
	Email, Password, Code string
	// Credential is a WebAuthn response (JSON) from the browser.
	Credential []byte
}

// Result is a passed step: who it proved and with which amr values.
type Result struct {
	Subject  string
	AMR      []string
	AuthTime time.Time
}

// ErrAuthFailed is a wrong answer; the pages show one message for it.
var ErrAuthFailed = errors.New("authentication failed")

// Sealer encrypts secrets at rest (keys.Cipher): the AAD binds a ciphertext
// to its row.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(ciphertext, aad []byte) ([]byte, error)
}

// CredentialAAD binds a sealed credential secret to its row.
func CredentialAAD(id string) []byte { return []byte("credentials.secret:" + id) }
