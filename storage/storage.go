// Package storage defines gatehouse's persistent records and the small stores
// that hold them. It imports neither fosite nor net/http: the protocol layer
// adapts these stores to whatever its engine needs.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns so callers can branch with errors.Is.
var (
	// ErrNotFound means the row does not exist (or has expired where the store says so).
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists means a row with the same key exists.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrConflict means a compare-and-swap lost a race; the caller may retry.
	ErrConflict = errors.New("storage: concurrent update")
	// ErrUnavailable means the database could not be reached.
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Client is a registered OAuth 2.0 client. SecretHash is the SHA-256 of the
// high-entropy server-generated secret; the secret itself is never stored.
type Client struct {
	ID                      string
	SecretHash              []byte
	Name                    string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Audience                []string
	TokenEndpointAuthMethod string
	// IDTokenSignedResponseAlg is the ID token algorithm the client asked
	// for ("" for the default, RS256).
	IDTokenSignedResponseAlg string
	// AccessTokenFormat is "opaque" or "jwt" (RFC 9068); "" follows the
	// server's default.
	AccessTokenFormat string
	// JWKS is the client's public key set as JSON (for private_key_jwt),
	// or JWKSURI where the client publishes it.
	JWKS    string
	JWKSURI string
	// TokenEndpointAuthSigningAlg is the algorithm of its client assertions.
	TokenEndpointAuthSigningAlg string
	// RegistrationTokenHash is the hex SHA-256 of the RFC 7592 registration
	// access token ("" for clients not registered dynamically).
	RegistrationTokenHash string
	// Owner says who is responsible for the client (a team, an e-mail, an
	// admin key); operators set it, registering clients cannot.
	Owner string
	// RequireMFA makes every sign-in for this client use two factors.
	RequireMFA bool
	// RequirePKCE makes the client use PKCE even where the server's policy
	// (pkce.required: public) would not ask a confidential client for it.
	RequirePKCE bool
	// Lifetimes shorten the server's token lifetimes for this client
	// (0: the server's; longer values are capped at the server's).
	AccessTokenLifetime, RefreshTokenLifetime, IDTokenLifetime time.Duration
	// PreviousSecretHash keeps verifying until PreviousSecretExpiresAt after
	// a secret rotation, so the client can roll its secret without downtime.
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt time.Time
	// Metadata is what the consent page shows about the client.
	Metadata   ClientMetadata
	Public     bool
	FirstParty bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ClientMetadata is descriptive client metadata (RFC 7591 §2).
type ClientMetadata struct {
	ClientURI string   `json:"client_uri,omitempty"`
	LogoURI   string   `json:"logo_uri,omitempty"`
	PolicyURI string   `json:"policy_uri,omitempty"`
	TOSURI    string   `json:"tos_uri,omitempty"`
	Contacts  []string `json:"contacts,omitempty"`
	// BackchannelLogoutURI receives OpenID Connect Back-Channel Logout
	// tokens; BackchannelLogoutSessionRequired asks for the sid claim.
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	// FrontchannelLogoutURI is loaded in an iframe when a session the
	// client signed in to ends (OpenID Connect Front-Channel Logout);
	// FrontchannelLogoutSessionRequired asks for iss and sid with it.
	FrontchannelLogoutURI             string `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool   `json:"frontchannel_logout_session_required,omitempty"`
	// AllowedCORSOrigins are origins, besides those of the redirect URIs,
	// from which a browser may call the token, revocation, introspection
	// and userinfo endpoints for this client.
	AllowedCORSOrigins []string `json:"allowed_cors_origins,omitempty"`
	// DefaultMaxAge is the max_age (seconds) of the client's authorization
	// requests that send none (OpenID Connect Registration §2).
	DefaultMaxAge int64 `json:"default_max_age,omitempty"`
	// RequireAuthTime asks for auth_time in ID tokens (always there).
	RequireAuthTime bool `json:"require_auth_time,omitempty"`
	// InitiateLoginURI starts a login at the client (third-party initiated
	// login, OpenID Connect Core §4).
	InitiateLoginURI string `json:"initiate_login_uri,omitempty"`
	// RequestURIs are the https URLs the client's request objects may be
	// fetched from (request_uri, RFC 9101 §5.2).
	RequestURIs []string `json:"request_uris,omitempty"`
	// RequestObjectSigningAlg, when set, is the only algorithm accepted on
	// the client's request objects; "none" is the only way an unsigned
	// request object is accepted.
	RequestObjectSigningAlg string `json:"request_object_signing_alg,omitempty"`
	// RequireSignedRequestObject refuses the client's authorization
	// requests that are not signed request objects (RFC 9101 §10.5).
	RequireSignedRequestObject bool `json:"require_signed_request_object,omitempty"`
	// UserinfoSignedResponseAlg, when set, has the userinfo endpoint answer
	// this client with a JWT signed with that algorithm.
	UserinfoSignedResponseAlg string `json:"userinfo_signed_response_alg,omitempty"`
	// SubjectType is "pairwise" for a client that sees every user under a
	// subject identifier of its own sector (OpenID Connect Core §8);
	// otherwise the public subject.
	SubjectType string `json:"subject_type,omitempty"`
	// SectorIdentifierURI names the sector of a pairwise client whose
	// redirect URIs span several hosts: a JSON array listing them all.
	SectorIdentifierURI string `json:"sector_identifier_uri,omitempty"`
}

// User is a local account. Subject is the stable, opaque `sub`.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
	PasswordHash  string
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// SecondFactor (read-only) says the user has an authenticator app or a
	// passkey, read with the user in one statement.
	SecondFactor bool
	// Profile holds the other OpenID Connect standard claims.
	Profile Profile
}

// Profile is the OpenID Connect standard claims of a user beyond its name
// and email (Core §5.1), released by the profile, address and phone scopes.
type Profile struct {
	MiddleName        string `json:"middle_name,omitempty"`
	Nickname          string `json:"nickname,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	// ProfileURL is the profile claim: the user's profile page.
	ProfileURL          string   `json:"profile,omitempty"`
	Picture             string   `json:"picture,omitempty"`
	Website             string   `json:"website,omitempty"`
	Gender              string   `json:"gender,omitempty"`
	Birthdate           string   `json:"birthdate,omitempty"`
	Zoneinfo            string   `json:"zoneinfo,omitempty"`
	Locale              string   `json:"locale,omitempty"`
	PhoneNumber         string   `json:"phone_number,omitempty"`
	PhoneNumberVerified bool     `json:"phone_number_verified,omitempty"`
	Address             *Address `json:"address,omitempty"`
}

// Address is the OpenID Connect address claim (Core §5.1.1).
type Address struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
}

// BrowserSession is a signed-in browser. Only the SHA-256 of the cookie value
// is stored (IDHash); SID is the public session id used for the `sid` claim.
type BrowserSession struct {
	IDHash    []byte
	SID       string
	Subject   string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Clients are the clients the session signed in to (AddSessionClient),
	// in no particular order; GetSession fills it in.
	Clients []string
}

// CredentialType names a kind of authenticator a user owns.
type CredentialType string

// Credential types.
const (
	CredentialWebAuthn   CredentialType = "webauthn"
	CredentialTOTP       CredentialType = "totp"
	CredentialBackupCode CredentialType = "backup_code"
)

// Credential is a second factor or passkey. Secret is sealed (TOTP seed),
// hashed (backup code) or public (WebAuthn public key), as the type needs;
// Data holds type-specific public details as JSON. Counter is the WebAuthn
// signature counter or the last TOTP time step used, updated by CAS so a
// replayed assertion or code cannot pass twice.
type Credential struct {
	ID         string
	Subject    string
	Type       CredentialType
	Name       string
	Secret     []byte
	Data       []byte
	Counter    int64
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// CredentialStore holds passkeys, TOTP seeds and backup codes.
type CredentialStore interface {
	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, id string) (Credential, error)
	// ListCredentials lists a user's credentials of one type ("" for all).
	ListCredentials(ctx context.Context, subject string, typ CredentialType) ([]Credential, error)
	// UpdateCredential is a compare-and-swap; ErrConflict on a lost race.
	UpdateCredential(ctx context.Context, id string, fn func(Credential) (Credential, error)) (Credential, error)
	// DeleteCredential removes one credential of the subject (ErrNotFound
	// when it has none with that id).
	DeleteCredential(ctx context.Context, subject, id string) error
	// DeleteCredentials removes all of a subject's credentials of a type.
	DeleteCredentials(ctx context.Context, subject string, typ CredentialType) (int64, error)
}

// FederatedIdentity links an account at an upstream identity provider
// (connector id + upstream subject) to a local user. Token is the
// upstream's token response, sealed, when the connector keeps it.
type FederatedIdentity struct {
	ConnectorID     string
	UpstreamSubject string
	Subject         string
	Email           string
	Username        string
	Token           []byte
	CreatedAt       time.Time
	LastUsedAt      time.Time
}

// FederationStore holds the links between upstream accounts and users.
type FederationStore interface {
	// CreateFederatedIdentity links an upstream account (ErrAlreadyExists
	// when it is linked already).
	CreateFederatedIdentity(ctx context.Context, fi FederatedIdentity) error
	GetFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string) (FederatedIdentity, error)
	// ListFederatedIdentities lists a user's links, oldest first.
	ListFederatedIdentities(ctx context.Context, subject string) ([]FederatedIdentity, error)
	// TouchFederatedIdentity records a sign-in (and the sealed token, if
	// kept; nil leaves it).
	TouchFederatedIdentity(ctx context.Context, connectorID, upstreamSubject string, at time.Time, token []byte) error
	// DeleteFederatedIdentity unlinks one of the subject's upstream accounts
	// (ErrNotFound when it has no such link).
	DeleteFederatedIdentity(ctx context.Context, subject, connectorID, upstreamSubject string) error
}

// Consent is a remembered "allow" decision of one user for one client.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Flow is a pending login flow between the authorization endpoint and the
// redirect back to the client. Data is opaque to storage (the consent package
// owns its encoding); State is kept in a column so CAS updates and GC can see it.
type Flow struct {
	ID        string
	State     string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenKind says which kind of protocol record a Token row holds.
type TokenKind string

// The token kinds fosite persists.
const (
	TokenAuthorizeCode TokenKind = "authorize_code"
	TokenAccess        TokenKind = "access_token"
	TokenRefresh       TokenKind = "refresh_token"
	TokenPKCE          TokenKind = "pkce"
	TokenOIDC          TokenKind = "oidc"
	TokenPAR           TokenKind = "par"
)

// Token is one protocol record, keyed by kind and signature (an HMAC of the
// token, never the token). Data is the serialized request, opaque to storage.
// RequestID groups every token of one grant (a "token family").
type Token struct {
	Kind      TokenKind
	Signature string
	RequestID string
	ClientID  string
	Subject   string
	// SID is the browser session the record lives and dies with: ending
	// that session deletes it. Empty for records that outlive sessions
	// (offline_access grants, client credentials, device grants).
	SID       string
	Active    bool
	ExpiresAt time.Time
	CreatedAt time.Time
	Data      []byte
}

// TokenKey names one protocol record.
type TokenKey struct {
	Kind      TokenKind
	Signature string
}

// TokenFamily names the records of one kind that continue one grant (they
// share its request id).
type TokenFamily struct {
	Kind      TokenKind
	RequestID string
}

// Redemption is what the token endpoint writes when it uses an
// authorization code or a refresh token, done as one atomic step: Used goes
// from active to inactive, exactly once however many requests race, and only
// if it did are Revoke's families removed (as they were before this step),
// Create's records stored and Delete's removed. Otherwise nothing is
// written.
type Redemption struct {
	Used   TokenKey
	Revoke []TokenFamily
	Create []Token
	Delete []TokenKey
}

// KeyState is the lifecycle state of a signing key at some instant.
type KeyState string

// Key lifecycle states: a key is published before it signs (next), signs
// (active), stops signing but stays published until what it signed has
// expired (retired), then is deleted.
const (
	KeyNext    KeyState = "next"
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
	KeyDeleted KeyState = "deleted"
)

// SigningKey is an asymmetric signing key. Private is sealed with
// keys.Cipher; Public is the public JWK as JSON. Its lifecycle is a
// schedule, so every replica derives the same state from the same row:
// published from CreatedAt, signing from ActivateAt until RetireAt (zero:
// open-ended), published until DeleteAt (zero: open-ended). Generation
// numbers the keys of one algorithm; (Alg, Generation) is unique, which makes
// rotation a compare-and-swap across replicas.
type SigningKey struct {
	ID         string
	Alg        string
	Generation int64
	Private    []byte
	Public     []byte
	CreatedAt  time.Time
	ActivateAt time.Time
	RetireAt   time.Time
	DeleteAt   time.Time
}

// StateAt derives the key's state at now.
func (k SigningKey) StateAt(now time.Time) KeyState {
	switch {
	case !k.DeleteAt.IsZero() && !now.Before(k.DeleteAt):
		return KeyDeleted
	case !k.RetireAt.IsZero() && !now.Before(k.RetireAt):
		return KeyRetired
	case now.Before(k.ActivateAt):
		return KeyNext
	}
	return KeyActive
}

// Secret is a named server secret (HMAC keys and the like), sealed with
// keys.Cipher, except the development key-encryption secret which is stored
// in clear only under `serve --dev`.
type Secret struct {
	Name      string
	Value     []byte
	CreatedAt time.Time
}

// ClientStore holds OAuth clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient is a compare-and-swap on the client's UpdatedAt.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// UserStore holds local accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, subject string) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, subject string, fn func(User) (User, error)) (User, error)
	// DeleteUser removes a user with its sessions, consents, credentials and
	// tokens.
	DeleteUser(ctx context.Context, subject string) error
}

// SessionStore holds browser sessions and remembered consent.
type SessionStore interface {
	CreateSession(ctx context.Context, s BrowserSession) error
	// ListSessions lists a subject's unexpired sessions.
	ListSessions(ctx context.Context, subject string, now time.Time) ([]BrowserSession, error)
	// DeleteSessions signs a subject out everywhere: its sessions end, with
	// the protocol records bound to them (Token.SID).
	DeleteSessions(ctx context.Context, subject string) (int64, error)
	GetSession(ctx context.Context, idHash []byte, now time.Time) (BrowserSession, error)
	// StepUpSession records a stronger authentication on an existing session
	// (same id and sid): its amr and auth_time. ErrNotFound when it is gone.
	StepUpSession(ctx context.Context, idHash []byte, amr []string, authTime time.Time) error
	// RenewSession records a new sign-in of the same user on an existing
	// session: the session (its sid, its clients, what is bound to it)
	// goes on under a new id (bs.IDHash) with bs's auth_time, amr and
	// expiry. ErrNotFound when the session at oldHash is gone or is
	// another user's.
	RenewSession(ctx context.Context, oldHash []byte, bs BrowserSession) error
	// DeleteSession ends a session, with the protocol records bound to it
	// (Token.SID); a missing one is not an error.
	DeleteSession(ctx context.Context, idHash []byte) error
	// AddSessionClient records that the session sid signed in to clientID
	// (once; nothing when the session is gone). The record goes with the
	// session.
	AddSessionClient(ctx context.Context, sid, clientID string, now time.Time) error
	// ListSessionClients lists the clients the session sid signed in to,
	// in the order they first did.
	ListSessionClients(ctx context.Context, sid string) ([]string, error)
	PutConsent(ctx context.Context, c Consent) error
	GetConsent(ctx context.Context, subject, clientID string, now time.Time) (Consent, error)
	// ListConsents lists a subject's unexpired remembered consents.
	ListConsents(ctx context.Context, subject string, now time.Time) ([]Consent, error)
	DeleteConsent(ctx context.Context, subject, clientID string) error
}

// FlowStore holds pending login flows.
type FlowStore interface {
	CreateFlow(ctx context.Context, f Flow) error
	GetFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// UpdateFlow is a compare-and-swap: fn sees the current row and returns the
	// new one; a concurrent writer makes it fail with ErrConflict.
	UpdateFlow(ctx context.Context, id string, now time.Time, fn func(Flow) (Flow, error)) (Flow, error)
}

// RefreshGrace is the response a rotated refresh token got, sealed, kept for
// a short grace period so a client's retry receives the same new pair.
type RefreshGrace struct {
	Signature string
	ClientID  string
	Response  []byte
	ExpiresAt time.Time
}

// AuditEvent is one security-relevant event. Details never hold secrets.
type AuditEvent struct {
	ID        string
	At        time.Time
	Type      string
	Actor     string
	Subject   string
	ClientID  string
	IP        string
	RequestID string
	Details   map[string]string
	// Count is how many times the event happened (1, or more for an event
	// recorded with CountAudit); At is then the last time.
	Count int64
}

// AdminKey is an admin API key: looked up by its public ID, verified by the
// SHA-256 of the whole key (256-bit random, so no slow KDF is needed).
type AdminKey struct {
	ID        string
	Hash      []byte
	Name      string
	Roles     []string
	CreatedAt time.Time
	RevokedAt time.Time
}

// AttemptPolicy limits guesses at one attempt key: Free failures, then a
// lock of Base that doubles with every further failure up to Max. A key's
// failures are forgotten Window after its last one.
type AttemptPolicy struct {
	Free      int
	Base, Max time.Duration
	Window    time.Duration
}

// AttemptStore counts attempts at secrets a person types (passwords,
// one-time codes), shared by every replica and kept across restarts.
type AttemptStore interface {
	// ReserveAttempt counts one attempt for key before the secret is
	// checked, as one atomic statement, so concurrent attempts cannot
	// exceed the policy. When the key is locked nothing is counted and it
	// reports false with how long the lock still holds.
	ReserveAttempt(ctx context.Context, key string, p AttemptPolicy, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// ReleaseAttempt takes back one reservation whose attempt succeeded
	// (lifting a lock it may have set); reset forgets every failure of key.
	ReleaseAttempt(ctx context.Context, key string, p AttemptPolicy, reset bool) error
}

// Revoker ends everything a user holds at once: browser sessions (all but
// keepSession, the hash of one to keep; nil for none) and every protocol
// record issued for the subject (authorization codes, access and refresh
// tokens, PKCE and OIDC records), so introspection answers inactive and a
// refresh is refused.
type Revoker interface {
	RevokeSubject(ctx context.Context, subject string, keepSession []byte) (sessions, tokens int64, err error)
}

// Mail is a message in the email outbox.
type Mail struct {
	// ID is also the local part of the Message-ID: the same on every
	// attempt, so a message sent twice (a crash between sending and
	// recording it) is one message to the receiving side.
	ID          string
	To, Subject string
	Text, HTML  string
	CreatedAt   time.Time
	// NextAttemptAt is when the message is due; while a sender holds it,
	// when that sender's claim lapses.
	NextAttemptAt time.Time
	// Attempts counts the deliveries tried (claims taken).
	Attempts int
	// SentAt and FailedAt end a message: delivered, or given up.
	SentAt, FailedAt time.Time
	LastError        string
}

// MailStore is the durable email outbox: messages are committed with the
// change that causes them (in the caller's transaction) and delivered by a
// sender loop that claims them, so every replica can send and none sends a
// message another holds.
type MailStore interface {
	EnqueueMail(ctx context.Context, m Mail) error
	// ClaimMail takes at most limit due messages (waiting, NextAttemptAt
	// at or before now) for claim until leaseUntil, counting an attempt on
	// each. A message another sender holds is not due until its claim
	// lapses.
	ClaimMail(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]Mail, error)
	// MailSent records a delivery by the holder of claim; the row is kept
	// until keepUntil. ErrConflict when the claim is no longer held.
	MailSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error
	// MailFailed records a failed attempt by the holder of claim: due
	// again at retryAt, or given up (kept until keepUntil) when retryAt is
	// zero. ErrConflict when the claim is no longer held.
	MailFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error
	// ListMail lists the newest messages, at most limit.
	ListMail(ctx context.Context, limit int) ([]Mail, error)
	// MailWaiting counts the messages not yet delivered nor given up.
	MailWaiting(ctx context.Context) (int64, error)
}

// Logout is a back-channel logout token waiting in its outbox: one client
// to tell that one session ended.
type Logout struct {
	// ID is the logout token's jti: the same on every attempt, so a token
	// delivered twice (a crash between delivering and recording it) is one
	// event to the client.
	ID       string
	ClientID string
	// Subject is the local user (the token says it as the client knows
	// it, pairwise or not); SID the session that ended.
	Subject, SID string
	CreatedAt    time.Time
	// NextAttemptAt is when the row is due; while a sender holds it, when
	// that sender's claim lapses.
	NextAttemptAt time.Time
	// Attempts counts the deliveries tried (claims taken).
	Attempts int
	// SentAt and FailedAt end a row: delivered, or given up.
	SentAt, FailedAt time.Time
	LastError        string
}

// LogoutStore is the durable outbox of back-channel logout tokens, with
// the same claim discipline as MailStore.
type LogoutStore interface {
	EnqueueLogout(ctx context.Context, l Logout) error
	// ClaimLogouts takes at most limit due rows for claim until
	// leaseUntil, counting an attempt on each.
	ClaimLogouts(ctx context.Context, claim string, now, leaseUntil time.Time, limit int) ([]Logout, error)
	// LogoutSent records a delivery by the holder of claim (kept until
	// keepUntil); ErrConflict when the claim is no longer held.
	LogoutSent(ctx context.Context, id, claim string, at, keepUntil time.Time) error
	// LogoutFailed records a failed attempt: due again at retryAt, or
	// given up (kept until keepUntil) when retryAt is zero.
	LogoutFailed(ctx context.Context, id, claim, reason string, at, retryAt, keepUntil time.Time) error
	// ListLogouts lists the newest rows, at most limit.
	ListLogouts(ctx context.Context, limit int) ([]Logout, error)
	// LogoutsWaiting counts the rows not yet delivered nor given up.
	LogoutsWaiting(ctx context.Context) (int64, error)
}

// AccountToken is a single-use link mailed to a user, stored as a hash.
type AccountToken struct {
	Hash    []byte
	Purpose string
	Subject string
	// Binding fingerprints the account state the link was issued for (its
	// password and email): a link dies when that state changes.
	Binding []byte
	// Data is what the purpose needs (a new email address).
	Data      string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// AccountTokenStore holds mailed links.
type AccountTokenStore interface {
	CreateAccountToken(ctx context.Context, t AccountToken) error
	// GetAccountToken reads an unused, unexpired link of a purpose
	// (ErrNotFound otherwise) without using it.
	GetAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (AccountToken, error)
	// UseAccountToken marks an unused, unexpired link of a purpose used, at
	// most once however many requests race (ErrNotFound otherwise).
	UseAccountToken(ctx context.Context, hash []byte, purpose string, now time.Time) (AccountToken, error)
	// DeleteAccountTokens removes a user's links of a purpose (a new one
	// replaces them).
	DeleteAccountTokens(ctx context.Context, subject, purpose string) error
}

// AdminKeyStore holds admin API keys.
type AdminKeyStore interface {
	CreateAdminKey(ctx context.Context, k AdminKey) error
	GetAdminKey(ctx context.Context, id string) (AdminKey, error)
	ListAdminKeys(ctx context.Context) ([]AdminKey, error)
	// RevokeAdminKey marks a key revoked (ErrNotFound if unknown).
	RevokeAdminKey(ctx context.Context, id string, at time.Time) error
}

// AuditStore is the append-only audit log.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	// CountAudit records a repeated event: the first call with an ID
	// appends e with count 1, later ones add one to its count and move its
	// At, Actor, RequestID and Details to the latest occurrence.
	CountAudit(ctx context.Context, e AuditEvent) error
	// DeleteAuditBefore removes the events older than before (retention).
	DeleteAuditBefore(ctx context.Context, before time.Time) (int64, error)
	// ListAudit returns events newest first, at most limit, before the given
	// instant (zero: no bound) and for one subject ("" for all).
	ListAudit(ctx context.Context, subject string, before time.Time, limit int) ([]AuditEvent, error)
	// ScrubAudit removes what identifies a person from a subject's events
	// (address, request id, details), keeping what happened and when: for
	// a deleted account. It returns how many events it changed.
	ScrubAudit(ctx context.Context, subject string) (int64, error)
}

// TokenStore holds fosite's records as opaque rows.
type TokenStore interface {
	CreateToken(ctx context.Context, t Token) error
	// CreateTokens stores several records in one statement (all or none).
	CreateTokens(ctx context.Context, ts []Token) error
	GetToken(ctx context.Context, kind TokenKind, signature string) (Token, error)
	// GetTokenFamily loads the record (kind, signature) and, in the same
	// query, the records of the given kinds that share its request id (an
	// authorization code with its PKCE and OIDC records). ErrNotFound when
	// the record itself does not exist.
	GetTokenFamily(ctx context.Context, kind TokenKind, signature string, kinds []TokenKind) ([]Token, error)
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// DeleteTokenKeys removes several records in one statement; missing
	// ones are not an error.
	DeleteTokenKeys(ctx context.Context, keys []TokenKey) error
	// DeactivateToken flips Active from true to false. It returns ErrNotFound
	// when no row exists and ErrConflict when the row was already inactive, so
	// of two concurrent callers exactly one succeeds.
	DeactivateToken(ctx context.Context, kind TokenKind, signature string) error
	// Redeem performs r (see Redemption) in one statement where the
	// database allows it. Like DeactivateToken it returns ErrNotFound when
	// r.Used does not exist and ErrConflict when it was already inactive,
	// and then writes nothing.
	Redeem(ctx context.Context, r Redemption) error
	// DeleteTokensOf removes every token issued to clientID for subject
	// (revoking a user's grant to an app).
	DeleteTokensOf(ctx context.Context, subject, clientID string) (int64, error)
	// LastTokenUse says, per client, when it was last issued a token for
	// subject (a sign-in, a refresh): the "last use" of connected apps.
	LastTokenUse(ctx context.Context, subject string) (map[string]time.Time, error)
	// DeleteTokensByRequestID removes every token of one kind in a family.
	DeleteTokensByRequestID(ctx context.Context, kind TokenKind, requestID string) (int64, error)
	// MarkJTIUsed records a one-time value (a client-assertion jti) until
	// expiresAt; ErrAlreadyExists when it is recorded and unexpired at now.
	MarkJTIUsed(ctx context.Context, jti string, expiresAt, now time.Time) error
	// JTIUsed reports whether an unexpired jti is known.
	JTIUsed(ctx context.Context, jti string, now time.Time) (bool, error)
	// RevokeTokenKey records that the stateless token named by key is
	// revoked, until expiresAt (when it expires anyway); revoking it again
	// is no error.
	RevokeTokenKey(ctx context.Context, key string, expiresAt time.Time) error
	// TokenKeyRevoked reports whether the stateless token named by key is
	// revoked (one read, shared by concurrent callers).
	TokenKeyRevoked(ctx context.Context, key string) (bool, error)
	// PutRefreshGrace stores the response of a rotation (first writer wins).
	PutRefreshGrace(ctx context.Context, g RefreshGrace) error
	// GetRefreshGrace loads an unexpired grace record.
	GetRefreshGrace(ctx context.Context, signature string, now time.Time) (RefreshGrace, error)
}

// KeyStore holds signing keys and sealed server secrets.
type KeyStore interface {
	// CreateKey stores a key; ErrAlreadyExists when its id or its
	// (Alg, Generation) is taken (another replica rotated first).
	CreateKey(ctx context.Context, k SigningKey) error
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// ScheduleKey sets when a key stops signing and stops being published.
	ScheduleKey(ctx context.Context, id string, retireAt, deleteAt time.Time) error
	// ResealKey replaces a key's sealed private part (re-encryption).
	ResealKey(ctx context.Context, id string, sealed []byte) error
	// PutSecretIfAbsent stores s unless a secret with that name exists, and
	// returns whichever is stored (so concurrent replicas agree on one value).
	PutSecretIfAbsent(ctx context.Context, s Secret) (Secret, error)
	GetSecret(ctx context.Context, name string) (Secret, error)
	// ListSecrets lists every named secret (for re-encryption).
	ListSecrets(ctx context.Context) ([]Secret, error)
	// ResealSecret replaces a secret's sealed value.
	ResealSecret(ctx context.Context, name string, value []byte) error
}

// TxRunner runs fn in one database transaction; stores called with the
// context fn receives take part in it. It is all most consumers need.
type TxRunner interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Transactor is a TxRunner that can also hold a transaction open across
// calls (fosite's transactional storage).
type Transactor interface {
	TxRunner
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Store is everything a backend provides. Components take the narrow
// interfaces above, never this one.
type Store interface {
	ClientStore
	UserStore
	CredentialStore
	FederationStore
	SessionStore
	FlowStore
	TokenStore
	KeyStore
	AuditStore
	AdminKeyStore
	AttemptStore
	MailStore
	LogoutStore
	AccountTokenStore
	Revoker
	Transactor
	// GarbageCollect removes expired rows and returns how many it removed.
	GarbageCollect(ctx context.Context, now time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}
