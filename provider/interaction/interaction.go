// Package interaction holds the types that cross the seam between the
// protocol (provider) and the browser-facing login and consent (consent). It
// imports neither fosite nor the storage layer.
package interaction

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Errors an Interactor returns; the provider maps them to OAuth errors
// redirected to the client.
var (
	// ErrLoginRequired: prompt=none but no good-enough browser session.
	ErrLoginRequired = errors.New("login required")
	// ErrConsentRequired: prompt=none but the user has not consented.
	ErrConsentRequired = errors.New("consent required")
	// ErrAccessDenied: the user declined.
	ErrAccessDenied = errors.New("access denied by the user")
	// ErrFlowInvalid: the flow is unknown, expired, already redeemed, or
	// belongs to another browser.
	ErrFlowInvalid = errors.New("login flow is unknown, expired or already used")
)

// Authentication context classes gatehouse issues (acr_values_supported):
// one factor, or two factors of different kinds.
const (
	ACROneFactor = "urn:gatehouse:acr:1fa"
	ACRTwoFactor = "urn:gatehouse:acr:2fa"
)

// AuthorizeRequest is a validated authorization request as the login and
// consent steps need to see it.
type AuthorizeRequest struct {
	ClientID   string
	ClientName string
	// ClientURI, PolicyURI and TOSURI are the client's registered home
	// page, privacy policy and terms of service (https), shown to the user.
	ClientURI, PolicyURI, TOSURI string `json:",omitempty"`
	// Logo is where this server serves the client's logo ("" for none).
	Logo string `json:",omitempty"`
	// FirstParty clients skip the consent page.
	FirstParty bool
	// RequireMFA: the client wants every sign-in to use two factors.
	RequireMFA bool
	// Scopes are the requested scopes the client may have.
	Scopes []string
	Prompt []string
	// MaxAge is the max_age parameter in seconds, or -1 when absent.
	MaxAge    int64
	LoginHint string
	// HintSubject is the subject of a verified id_token_hint, if any: as
	// the client sees it, pairwise for a client with a SubjectSector.
	HintSubject string
	// SubjectSector is the sector of a client with pairwise subject
	// identifiers ("" for public ones).
	SubjectSector string `json:",omitempty"`
	ACRValues     []string
	// Form holds every parameter of the original request, so a POSTed
	// request survives the login round-trip.
	Form url.Values
	// RequestedAt is when the request arrived, truncated to the second.
	RequestedAt time.Time
}

// HasPrompt reports whether the request carries the prompt value p.
func (a AuthorizeRequest) HasPrompt(p string) bool {
	for _, v := range a.Prompt {
		if v == p {
			return true
		}
	}
	return false
}

// Grant is what a finished login and consent produce.
type Grant struct {
	Subject       string
	AuthTime      time.Time
	AMR           []string
	ACR           string
	SessionID     string
	GrantedScopes []string
	// Form and RequestedAt are the original request's, for Redeem callers.
	Form        url.Values
	RequestedAt time.Time
	// User is the account as Decide read it to decide (nil when it did not
	// need to): the grant uses it instead of reading it again.
	User *storage.User
}

// Decision is what Decide returns: a Grant ready now, or where to send the
// browser next.
type Decision struct {
	Grant      *Grant
	RedirectTo string
}

// Interactor is the browser side of the authorization endpoint.
type Interactor interface {
	// Decide inspects the browser session and either grants at once (session
	// good enough, consent remembered) or starts a login flow.
	Decide(ctx context.Context, r *http.Request, req AuthorizeRequest) (Decision, error)
	// Redeem completes a flow once. On ErrAccessDenied the returned Grant
	// still carries Form so the error can be sent to the client.
	Redeem(ctx context.Context, r *http.Request, flowID string) (Grant, error)
	// Logout is RP-initiated logout's browser side: it ends the browser's
	// session when the request is for it (a verified id_token_hint of this
	// session) or the user confirmed it (a POSTed form with a CSRF token);
	// otherwise it shows the form, and the outcome says it asked.
	Logout(ctx context.Context, w http.ResponseWriter, r *http.Request, req LogoutRequest) (LogoutOutcome, error)
}

// LogoutRequest is a logout request as the provider verified it.
type LogoutRequest struct {
	// HintSID is the sid of a verified id_token_hint ("" when there was
	// none, or it did not verify).
	HintSID string
	// Params are the request's parameters, which a confirmation form posts
	// back to the logout endpoint.
	Params url.Values
}

// LogoutOutcome is what Logout did.
type LogoutOutcome struct {
	// Asked: a confirmation page was written; nothing ended.
	Asked bool
	// Ended is the session that ended (empty SID: there was none).
	Ended EndedSession
}

// EndedSession is a browser session that ended: its sid, its user and the
// clients it had signed in to.
type EndedSession struct {
	SID, Subject string
	Clients      []string
}

// PairwiseSubject is the subject identifier a client with pairwise
// subjects sees for a local subject (OpenID Connect Core §8.1): an HMAC of
// the client's sector and the subject under a server secret, so clients of
// different sectors cannot correlate a user, and the same sector always
// sees the same value.
func PairwiseSubject(key []byte, sector, subject string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sector))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
