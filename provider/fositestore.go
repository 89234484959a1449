package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fstorage "github.com/ory/fosite/storage"

	"github.com/gatehouse-id/gatehouse/storage"
)

// fositeStore is the one adapter from fosite's storage interfaces to ours.
// It honours fosite's contracts: fosite.ErrNotFound for missing rows,
// ErrInvalidatedAuthorizeCode returned with the request, sessions decoded
// into the prototype fosite passes in.
type fositeStore struct {
	tokens  storage.TokenStore
	tx      storage.Transactor
	clients *clientCache
	now     func() time.Time
	// graceful: a rotated refresh token is reported as a concurrent
	// rotation (storage.ErrConflict) rather than as reuse, so the token
	// endpoint can replay the rotation's response within the grace period.
	graceful bool
	// stateless says which access tokens are not stored.
	stateless func(fosite.Requester) bool
}

var (
	_ fosite.ClientManager               = (*fositeStore)(nil)
	_ oauth2.CoreStorage                 = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStore)(nil)
	_ fstorage.Transactional             = (*fositeStore)(nil)
	_ fosite.PARStorage                  = (*fositeStore)(nil)
	_ fosite.Storage                     = (*fositeStore)(nil)
)

// GetClient loads a client for fosite.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.clients.get(ctx, id)
	if err != nil {
		return nil, mapErr(err)
	}
	return &client{c: c, now: f.now()}, nil
}

// ClientAssertionJWTValid fails with ErrJTIKnown when the jti was used.
func (f *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	used, err := f.tokens.JTIUsed(ctx, jti, f.now())
	if err != nil {
		return mapErr(err)
	}
	if used {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT records a jti until it expires.
func (f *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if err := f.tokens.MarkJTIUsed(ctx, jti, exp, f.now()); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fosite.ErrJTIKnown
		}
		return mapErr(err)
	}
	return nil
}

// storedRequest is the serialized form of a fosite request.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"requested_scope"`
	GrantedScope      []string        `json:"granted_scope"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
	RequestedAudience []string        `json:"requested_audience"`
	GrantedAudience   []string        `json:"granted_audience"`
	// Authorization-request fields, kept for pushed authorization requests.
	Authorize *storedAuthorize `json:"authorize,omitempty"`
}

// storedAuthorize is what an authorization request adds to a request.
type storedAuthorize struct {
	ResponseTypes       []string `json:"response_types"`
	RedirectURI         string   `json:"redirect_uri"`
	State               string   `json:"state"`
	ResponseMode        string   `json:"response_mode"`
	DefaultResponseMode string   `json:"default_response_mode"`
}

// secretParams never reach the database, whatever fosite's sanitizer keeps.
var secretParams = []string{"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "password", "access_token", "token"}

func (f *fositeStore) create(ctx context.Context, kind storage.TokenKind, signature string, r fosite.Requester) error {
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = append([]string(nil), v...)
	}
	for _, k := range secretParams {
		form.Del(k)
	}
	sr := storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(), Form: form,
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
	}
	if ar, ok := r.(fosite.AuthorizeRequester); ok && kind == storage.TokenPAR {
		sr.Authorize = &storedAuthorize{ResponseTypes: ar.GetResponseTypes(), State: ar.GetState(),
			ResponseMode: string(ar.GetResponseMode()), DefaultResponseMode: string(ar.GetDefaultResponseMode())}
		if u := ar.GetRedirectURI(); u != nil {
			sr.Authorize.RedirectURI = u.String()
		}
	}
	data, err := encodeStored(&sr, r.GetSession())
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	exp := expiryFor(kind, r, f.now())
	t := storage.Token{Kind: kind, Signature: signature, RequestID: r.GetID(), ClientID: r.GetClient().GetID(),
		Subject: r.GetSession().GetSubject(), SID: boundTo(r), Active: true, ExpiresAt: exp, CreatedAt: f.now().UTC(), Data: data}
	if b := batchOf(ctx); b != nil && b.buffer(t) {
		return nil
	}
	return mapErr(f.tokens.CreateToken(ctx, t))
}

// boundTo is the browser session r's records live and die with (OpenID
// Connect Core §11): the sid of the session that granted it, unless the
// grant holds offline_access, whose whole point is to outlive it. Grants
// made without a browser session (client credentials, device, token
// exchange) carry no sid and are bound to none.
func boundTo(r fosite.Requester) string {
	if r.GetGrantedScopes().Has("offline_access") {
		return ""
	}
	s, ok := r.GetSession().(*session)
	if !ok || s.Claims == nil {
		return ""
	}
	sid, _ := s.Claims.Extra["sid"].(string)
	return sid
}

// batch is one request's unit of work with the token store, so a flow costs
// fewer statements: the records fosite creates while authorizing (code,
// PKCE, OIDC) or inside its token transaction (access and refresh token)
// are written in one statement; an authorization code is read together
// with its PKCE and OIDC records; the records fosite deletes at the token
// endpoint go in one statement at the end.
//
// fosite's token transaction for a code redemption becomes one
// storage.Redemption, written at Commit in one statement instead of BEGIN,
// UPDATE, INSERT, COMMIT and a DELETE after it: BeginTX opens no database
// transaction when the request has read the code it is about to use as
// active (redeemable), and the use itself, the tokens created and the
// records deleted wait for Commit. The records read with a code (PKCE,
// OIDC) go with it: nothing reads them once the code is used. A refresh
// rotation runs in a database transaction (see GetRefreshTokenSession).
type batch struct {
	mu        sync.Mutex
	buffering bool
	inserts   []storage.Token
	deletes   []storage.TokenKey
	rows      map[storage.TokenKey]storage.Token

	redeemable storage.TokenKey                        // the code read active
	companions map[storage.TokenKey][]storage.TokenKey // records read with a code
	deferred   bool                                    // inside a transaction gathered for Commit
	gathered   bool                                    // the last transaction begun was a gathered one
	redemption storage.Redemption                      // what Commit writes
	gone       map[storage.TokenKey]bool               // removed by the redemption
}

type batchKey struct{}

// withBatch starts a unit of work for one request.
func withBatch(ctx context.Context) (context.Context, *batch) {
	b := &batch{rows: map[storage.TokenKey]storage.Token{}, companions: map[storage.TokenKey][]storage.TokenKey{}, gone: map[storage.TokenKey]bool{}}
	return context.WithValue(ctx, batchKey{}, b), b
}

func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// buffer keeps t for the next flush when buffering is on.
func (b *batch) buffer(t storage.Token) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffering {
		return false
	}
	b.inserts = append(b.inserts, t)
	b.rows[storage.TokenKey{Kind: t.Kind, Signature: t.Signature}] = t
	return true
}

// startBuffering makes creates wait for flushInserts.
func (b *batch) startBuffering() {
	b.mu.Lock()
	b.buffering = true
	b.mu.Unlock()
}

// flushInserts writes the buffered records in one statement and stops
// buffering.
func (f *fositeStore) flushInserts(ctx context.Context, b *batch) error {
	b.mu.Lock()
	ins := b.inserts
	b.inserts, b.buffering = nil, false
	b.mu.Unlock()
	return mapErr(f.tokens.CreateTokens(ctx, ins))
}

// flushDeletes removes the records fosite deleted during the request.
func (f *fositeStore) flushDeletes(ctx context.Context, b *batch) error {
	b.mu.Lock()
	var del []storage.TokenKey
	for _, k := range b.deletes {
		if !b.gone[k] {
			del = append(del, k)
		}
	}
	b.deletes = nil
	b.mu.Unlock()
	return mapErr(f.tokens.DeleteTokenKeys(ctx, del))
}

// read notes that the request read key as active: its token transaction
// may use it (see batch).
func (b *batch) read(key storage.TokenKey) {
	b.mu.Lock()
	b.redeemable = key
	b.mu.Unlock()
}

// use records, inside a gathered transaction, that the redeemable code is
// used. It reports false outside one; it fails for any other token, which
// fosite never does: the change would otherwise not be atomic with the
// rest.
func (b *batch) use(key storage.TokenKey) (bool, error) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.deferred {
		return false, nil
	}
	if key != b.redeemable || b.redemption.Used != (storage.TokenKey{}) {
		return true, fmt.Errorf("storage: %s used inside a transaction gathered for another token", key.Kind)
	}
	b.redemption.Used = key
	if t, ok := b.rows[key]; ok {
		t.Active = false
		b.rows[key] = t
	}
	return true, nil
}

// direct refuses a write that would run outside a gathered transaction
// while one is open (fosite makes none; see use).
func direct(ctx context.Context, what string) error {
	if b := batchOf(ctx); b != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.deferred {
			return fmt.Errorf("storage: %s inside a gathered transaction", what)
		}
	}
	return nil
}

// remove deletes a record now, or with the request's other deletes.
func (f *fositeStore) remove(ctx context.Context, kind storage.TokenKind, signature string) error {
	if b := batchOf(ctx); b != nil {
		k := storage.TokenKey{Kind: kind, Signature: signature}
		b.mu.Lock()
		b.deletes = append(b.deletes, k)
		delete(b.rows, k)
		b.mu.Unlock()
		return nil
	}
	return mapErr(f.tokens.DeleteToken(ctx, kind, signature))
}

// token reads a record: from the request's unit of work when it has it; an
// authorization code brings its PKCE and OIDC records along.
func (f *fositeStore) token(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	b := batchOf(ctx)
	if b == nil {
		return f.tokens.GetToken(ctx, kind, signature)
	}
	k := storage.TokenKey{Kind: kind, Signature: signature}
	b.mu.Lock()
	t, ok := b.rows[k]
	b.mu.Unlock()
	if ok {
		return t, nil
	}
	if kind != storage.TokenAuthorizeCode {
		return f.tokens.GetToken(ctx, kind, signature)
	}
	family, err := f.tokens.GetTokenFamily(ctx, kind, signature, []storage.TokenKind{storage.TokenPKCE, storage.TokenOIDC})
	if err != nil {
		return t, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ft := range family {
		fk := storage.TokenKey{Kind: ft.Kind, Signature: ft.Signature}
		if fk == k {
			t = ft
		} else {
			b.companions[k] = append(b.companions[k], fk)
		}
		b.rows[fk] = ft
	}
	return t, nil
}

// expiryFor picks the row's expiry: the token's own for codes and tokens; the
// PKCE and OIDC records live as long as their authorization code.
func expiryFor(kind storage.TokenKind, r fosite.Requester, now time.Time) time.Time {
	s := r.GetSession()
	var t time.Time
	switch kind {
	case storage.TokenAccess:
		t = s.GetExpiresAt(fosite.AccessToken)
	case storage.TokenRefresh:
		t = s.GetExpiresAt(fosite.RefreshToken)
	case storage.TokenPAR:
		t = s.GetExpiresAt(fosite.PushedAuthorizeRequestContext)
	default:
		t = s.GetExpiresAt(fosite.AuthorizeCode)
	}
	if t.IsZero() {
		// A refresh token without lifespan still gets collected eventually.
		t = now.Add(365 * 24 * time.Hour)
	}
	return t
}

func (f *fositeStore) get(ctx context.Context, kind storage.TokenKind, signature string, session fosite.Session) (fosite.Requester, bool, error) {
	req, t, _, err := f.load(ctx, kind, signature, session)
	return req, t.Active, err
}

// load reads one record and rebuilds the request, decoding the session into
// the prototype fosite passed.
func (f *fositeStore) load(ctx context.Context, kind storage.TokenKind, signature string, session fosite.Session) (*fosite.Request, storage.Token, storedRequest, error) {
	var sr storedRequest
	t, err := f.token(ctx, kind, signature)
	if err != nil {
		return nil, t, sr, mapErr(err)
	}
	if err := json.Unmarshal(t.Data, &sr); err != nil {
		return nil, t, sr, fmt.Errorf("decode %s: %w", kind, err)
	}
	if session != nil {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, t, sr, fmt.Errorf("decode %s session: %w", kind, err)
		}
	}
	c, err := f.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, t, sr, err
	}
	req := &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c,
		RequestedScope: sr.RequestedScope, GrantedScope: sr.GrantedScope, Form: sr.Form, Session: session,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
	}
	if req.Form == nil {
		req.Form = url.Values{}
	}
	return req, t, sr, nil
}

// CreateAuthorizeCodeSession stores an authorization code.
func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return f.create(ctx, storage.TokenAuthorizeCode, code, r)
}

// GetAuthorizeCodeSession loads a code; a used one comes back with the
// request and ErrInvalidatedAuthorizeCode so fosite revokes its tokens.
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	r, active, err := f.get(ctx, storage.TokenAuthorizeCode, code, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	if b := batchOf(ctx); b != nil {
		b.read(storage.TokenKey{Kind: storage.TokenAuthorizeCode, Signature: code})
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession marks a code used, exactly once.
// Inside a gathered transaction that happens at Commit.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	if gathered, err := batchOf(ctx).use(storage.TokenKey{Kind: storage.TokenAuthorizeCode, Signature: code}); gathered {
		return err
	}
	return mapErr(f.tokens.DeactivateToken(ctx, storage.TokenAuthorizeCode, code))
}

// CreateAccessTokenSession stores an access token, unless it is a
// stateless one (stateless.go), which needs no record.
func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	if f.stateless != nil && f.stateless(r) {
		return nil
	}
	return f.create(ctx, storage.TokenAccess, signature, r)
}

// GetAccessTokenSession loads an access token.
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, active, err := f.get(ctx, storage.TokenAccess, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteAccessTokenSession removes an access token.
func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	if err := direct(ctx, "deleting an access token"); err != nil {
		return err
	}
	return mapErr(f.tokens.DeleteToken(ctx, storage.TokenAccess, signature))
}

// CreateRefreshTokenSession stores a refresh token.
func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, r fosite.Requester) error {
	return f.create(ctx, storage.TokenRefresh, signature, r)
}

// GetRefreshTokenSession loads a refresh token; a rotated one comes back with
// the request and ErrInactiveToken so fosite revokes the family.
func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	r, active, err := f.get(ctx, storage.TokenRefresh, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		if f.graceful {
			return nil, fmt.Errorf("refresh token already rotated: %w", storage.ErrConflict)
		}
		return r, fosite.ErrInactiveToken
	}
	// Not marked redeemable (see batch.read): a rotation runs in a
	// database transaction. Through a one-statement redemption (marked
	// here, and RotateRefreshToken recording its use with the family's
	// access tokens in storage.Redemption.Revoke) refresh measured no
	// faster in alternated runs, and three `make bench` runs out of four
	// read half its rate, unexplained.
	return r, nil
}

// DeleteRefreshTokenSession removes a refresh token.
func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	if err := direct(ctx, "deleting a refresh token"); err != nil {
		return err
	}
	return mapErr(f.tokens.DeleteToken(ctx, storage.TokenRefresh, signature))
}

// RotateRefreshToken retires the presented refresh token (compare-and-swap,
// so of two concurrent rotations one wins) and the family's access tokens.
// The retired row is kept, inactive, so a replay is recognised as reuse.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	if err := direct(ctx, "rotating a refresh token"); err != nil {
		return err
	}
	used := storage.TokenKey{Kind: storage.TokenRefresh, Signature: signature}
	if err := f.tokens.DeactivateToken(ctx, storage.TokenRefresh, signature); err != nil {
		return usedErr(used, err)
	}
	_, err := f.tokens.DeleteTokensByRequestID(ctx, storage.TokenAccess, requestID)
	return mapErr(err)
}

// usedErr maps the failure to use a code or refresh token. A refresh token
// rotated or revoked by a concurrent request since it was read is presented
// again: reuse.
func usedErr(used storage.TokenKey, err error) error {
	if used.Kind == storage.TokenRefresh && (errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound)) {
		return fmt.Errorf("%w: refresh token rotated concurrently: %w", fosite.ErrInactiveToken, storage.ErrConflict)
	}
	return mapErr(err)
}

// RevokeRefreshToken removes every refresh token of a family.
func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if err := direct(ctx, "revoking refresh tokens"); err != nil {
		return err
	}
	_, err := f.tokens.DeleteTokensByRequestID(ctx, storage.TokenRefresh, requestID)
	return mapErr(err)
}

// RevokeAccessToken removes every access token of a family.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if err := direct(ctx, "revoking access tokens"); err != nil {
		return err
	}
	_, err := f.tokens.DeleteTokensByRequestID(ctx, storage.TokenAccess, requestID)
	return mapErr(err)
}

// CreateOpenIDConnectSession stores the OIDC request for a code.
func (f *fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return f.create(ctx, storage.TokenOIDC, oidcKey(code), r)
}

// GetOpenIDConnectSession loads the OIDC request for a code.
func (f *fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	req, _, err := f.get(ctx, storage.TokenOIDC, oidcKey(code), r.GetSession())
	return req, err
}

// DeleteOpenIDConnectSession removes the OIDC request for a code.
func (f *fositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return f.remove(ctx, storage.TokenOIDC, oidcKey(code))
}

// oidcKey is how the OIDC record of a code is stored: fosite passes the
// code itself, which never reaches the database.
func oidcKey(code string) string {
	h := sha256.Sum256([]byte("oidc\x00" + code))
	return hex.EncodeToString(h[:])
}

// CreatePKCERequestSession stores the PKCE challenge for a code.
func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return f.create(ctx, storage.TokenPKCE, signature, r)
}

// GetPKCERequestSession loads the PKCE challenge for a code.
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := f.get(ctx, storage.TokenPKCE, signature, session)
	return req, err
}

// DeletePKCERequestSession removes the PKCE challenge for a code.
func (f *fositeStore) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return f.remove(ctx, storage.TokenPKCE, signature)
}

// parKey is how a request_uri is stored: its SHA-256, never the value.
func parKey(requestURI string) string {
	h := sha256.Sum256([]byte(requestURI))
	return hex.EncodeToString(h[:])
}

// CreatePARSession stores a pushed authorization request.
func (f *fositeStore) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	return f.create(ctx, storage.TokenPAR, parKey(requestURI), r)
}

// GetPARSession loads an unexpired pushed authorization request.
func (f *fositeStore) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	req, t, sr, err := f.load(ctx, storage.TokenPAR, parKey(requestURI), newSession())
	if err != nil {
		return nil, err
	}
	if !t.ExpiresAt.After(f.now()) {
		return nil, fmt.Errorf("%w: request_uri expired", fosite.ErrNotFound)
	}
	if sr.Authorize == nil {
		return nil, errors.New("pushed request without authorization fields")
	}
	ar := &fosite.AuthorizeRequest{Request: *req, ResponseTypes: sr.Authorize.ResponseTypes, State: sr.Authorize.State,
		ResponseMode: fosite.ResponseModeType(sr.Authorize.ResponseMode), DefaultResponseMode: fosite.ResponseModeType(sr.Authorize.DefaultResponseMode)}
	if ar.RedirectURI, err = url.Parse(sr.Authorize.RedirectURI); err != nil {
		return nil, fmt.Errorf("decode pushed request redirect_uri: %w", err)
	}
	return ar, nil
}

// DeletePARSession makes a request_uri single-use.
func (f *fositeStore) DeletePARSession(ctx context.Context, requestURI string) error {
	return mapErr(f.tokens.DeleteToken(ctx, storage.TokenPAR, parKey(requestURI)))
}

// BeginTX starts a transaction for fosite: a gathered one (see batch) when
// the request read the token it is about to use, a database transaction
// otherwise. Records created inside either are written together at the
// commit.
func (f *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	b := batchOf(ctx)
	if b != nil {
		b.mu.Lock()
		gather := b.redeemable != (storage.TokenKey{}) && !b.deferred
		b.gathered = gather
		if gather {
			b.deferred, b.redemption = true, storage.Redemption{}
		}
		b.mu.Unlock()
		if gather {
			b.startBuffering()
			return ctx, nil
		}
	}
	tctx, err := f.tx.BeginTx(ctx)
	if err == nil && b != nil {
		b.startBuffering()
	}
	return tctx, err
}

// Commit writes the transaction's records and commits it; a gathered one
// is one storage.Redemption.
func (f *fositeStore) Commit(ctx context.Context) error {
	b := batchOf(ctx)
	if b == nil {
		return mapErr(f.tx.Commit(ctx))
	}
	b.mu.Lock()
	deferred, red := b.deferred, b.redemption
	b.mu.Unlock()
	if !deferred {
		if err := f.flushInserts(ctx, b); err != nil {
			_ = f.tx.Rollback(ctx)
			return err
		}
		return mapErr(f.tx.Commit(ctx))
	}
	if red.Used == (storage.TokenKey{}) {
		// Nothing used: only records created.
		err := f.flushInserts(ctx, b)
		b.endGathering()
		return err
	}
	b.mu.Lock()
	red.Create = b.inserts
	seen := map[storage.TokenKey]bool{}
	for _, k := range append(append([]storage.TokenKey(nil), b.deletes...), b.companions[red.Used]...) {
		if !seen[k] {
			seen[k] = true
			red.Delete = append(red.Delete, k)
		}
	}
	b.mu.Unlock()
	err := f.tokens.Redeem(ctx, red)
	b.endGathering()
	if err != nil {
		return usedErr(red.Used, err)
	}
	b.mu.Lock()
	for _, k := range red.Delete {
		b.gone[k] = true
	}
	b.mu.Unlock()
	return nil
}

// endGathering closes a gathered transaction, dropping what it buffered.
// The token it was for is no longer redeemable: a later transaction of the
// request is a database one.
func (b *batch) endGathering() {
	b.mu.Lock()
	b.deferred, b.redemption, b.redeemable = false, storage.Redemption{}, storage.TokenKey{}
	b.inserts, b.buffering = nil, false
	b.mu.Unlock()
}

// Rollback rolls back fosite's transaction and drops its buffered records.
func (f *fositeStore) Rollback(ctx context.Context) error {
	b := batchOf(ctx)
	if b == nil {
		return f.tx.Rollback(ctx)
	}
	b.mu.Lock()
	gathered := b.gathered
	b.mu.Unlock()
	b.endGathering()
	if gathered {
		// Nothing was written (or, after a failed Commit, the
		// redemption was one statement that failed whole).
		return nil
	}
	return f.tx.Rollback(ctx)
}

// mapErr turns storage errors into the ones fosite understands, keeping the
// original in the chain.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	}
	return err
}
