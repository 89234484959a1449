package provider

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/frontchannel"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// token is the token endpoint.
func (p tokenFlow) token(w http.ResponseWriter, r *http.Request) {
	ctx, b := withBatch(r.Context())
	defer func() {
		// The PKCE and OIDC records fosite deleted, in one statement; if it
		// fails they expire with their code.
		if err := p.fs.flushDeletes(context.WithoutCancel(ctx), b); err != nil {
			p.log.Warn("token: delete used records", "request_id", httpx.RequestID(ctx), "err", err)
		}
	}()
	if !p.readClientForm(w, r) {
		return
	}
	if r.Header.Get("Authorization") == "" && r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
		p.writeJSONError(w, r, fosite.ErrInvalidClient.WithHint("The client did not authenticate."))
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code", "refresh_token", "client_credentials":
	case "":
		p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is required."))
		return
	default:
		// RFC 6749 §5.2; fosite answers invalid_request for a grant no
		// handler knows.
		p.writeJSONError(w, r, fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not supported.", gt))
		return
	}
	refresh := r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") != ""
	var signature string
	if refresh {
		signature = p.refreshSignature(ctx, r.PostForm.Get("refresh_token"))
		if p.refreshGrace > 0 && p.graceReplay(ctx, w, r, signature, 0) {
			return
		}
	}
	sess := newSession()
	ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
	if err != nil && p.retryWithFreshClient(r, err) {
		sess = newSession()
		ar, err = p.oauth.NewAccessRequest(ctx, r, sess)
	}
	if err != nil {
		p.tokenError(w, r, refresh, signature, err)
		return
	}
	if refresh && !p.accountActive(ctx, w, r, ar.GetSession().GetSubject()) {
		return
	}
	if refresh {
		if err := narrowRefreshScope(ar); err != nil {
			p.writeJSONError(w, r, err)
			return
		}
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// A grant of its own: its records are keyed by a time-ordered ID
		// (other grants keep the ID of the authorization they continue).
		ar.SetID(orderedRequestID())
		// A machine client gets what it asks for within its registration;
		// user-only scopes make no sense without a user.
		for _, s := range ar.GetRequestedScopes() {
			if s != "openid" && s != "offline_access" {
				ar.GrantScope(s)
			}
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.tokenError(w, r, refresh, signature, err)
		return
	}
	if refresh && p.refreshGrace > 0 {
		p.rememberRotation(ctx, signature, ar.GetClient().GetID(), resp)
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// narrowRefreshScope applies a refresh request's scope parameter (RFC 6749
// §6), which fosite 0.49 ignores: every scope asked for must have been
// granted (invalid_scope otherwise), and the new tokens carry only those.
func narrowRefreshScope(ar fosite.AccessRequester) error {
	raw := ar.GetRequestForm().Get("scope")
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	asked := fosite.RemoveEmpty(strings.Split(raw, " "))
	granted := ar.GetGrantedScopes()
	for _, s := range asked {
		if !granted.Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The scope %q was not granted with this refresh token.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithDebugf("unexpected access request type %T", ar)
	}
	req.GrantedScope = fosite.Arguments(asked)
	req.RequestedScope = fosite.Arguments(asked)
	return nil
}

// accountActive refuses a refresh for an account that was disabled or
// deleted (its tokens are revoked when that happens; this holds for a
// token minted concurrently with it). It reports whether the refresh may go
// on, and answers invalid_grant itself otherwise.
func (p tokenFlow) accountActive(ctx context.Context, w http.ResponseWriter, r *http.Request, subject string) bool {
	if subject == "" {
		return true
	}
	u, err := p.store.Users.GetUser(ctx, subject)
	switch {
	case err == nil && !u.Disabled:
		return true
	case err == nil || errors.Is(err, storage.ErrNotFound):
		p.writeJSONError(w, r, fosite.ErrInvalidGrant.WithHint("The account of this grant is disabled or deleted."))
	default:
		p.writeJSONError(w, r, err)
	}
	return false
}

// clientAuthenticator is fosite's client authentication, which the
// composed provider exposes.
type clientAuthenticator interface {
	AuthenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error)
}

// retryWithFreshClient reports whether a failed client authentication used a
// cached client, dropping it so one retry reads the database (the client
// may have been changed by another process within the cache TTL).
func (p tokenFlow) retryWithFreshClient(r *http.Request, err error) bool {
	if fosite.ErrorToRFC6749Error(err).ErrorField != fosite.ErrInvalidClient.ErrorField {
		return false
	}
	id := requestClientID(r)
	return id != "" && p.clients.dropIfCached(id)
}

// readClientForm parses a client-authenticated request's form and refuses,
// before fosite sees it, a client assertion that is not short-lived. It
// writes the error and reports false when the request must stop.
func (p *Provider) readClientForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
		return false
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k != "resource" && k != "audience" {
			p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHintf("The parameter %q is sent more than once (RFC 6749 §3.2).", k))
			return false
		}
	}
	if err := p.checkAssertion(r.Context(), r.PostForm); err != nil {
		p.writeJSONError(w, r, err)
		return false
	}
	return true
}

// DefaultMaxAssertionLifetime bounds a client assertion's exp unless
// configured (RFC 7523 asks for a short lifetime; a long-lived assertion is
// a reusable credential). Ten minutes is what common libraries sign
// (oauth2c); each jti is still accepted once.
const DefaultMaxAssertionLifetime = 10 * time.Minute

// checkAssertion refuses a private_key_jwt assertion without exp or with an
// exp further ahead than the configured lifetime, before fosite verifies it.
func (p *Provider) checkAssertion(ctx context.Context, form url.Values) error {
	a := form.Get("client_assertion")
	if a == "" {
		return nil
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not a signed JWT.")
	}
	var claims struct {
		Exp *float64 `json:"exp"`
		Nbf *float64 `json:"nbf"`
		Iat *float64 `json:"iat"`
		Sub string   `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return fosite.ErrInvalidClient.WithHint("The client assertion has no 'exp'.")
	}
	const skew = 30 * time.Second
	now := p.now()
	switch exp := time.Unix(int64(*claims.Exp), 0); {
	case exp.After(now.Add(p.maxAssertionLifetime + skew)):
		return fosite.ErrInvalidClient.WithHintf("The client assertion must expire within %v.", p.maxAssertionLifetime)
	case exp.Before(now.Add(-skew)):
		return fosite.ErrInvalidClient.WithHint("The client assertion has expired.")
	case claims.Nbf != nil && time.Unix(int64(*claims.Nbf), 0).After(now.Add(skew)),
		claims.Iat != nil && time.Unix(int64(*claims.Iat), 0).After(now.Add(skew)):
		return fosite.ErrInvalidClient.WithHint("The client assertion is not valid yet.")
	}
	return p.checkAssertionKey(ctx, parts[0], cmp.Or(form.Get("client_id"), claims.Sub))
}

// checkAssertionKey refuses an assertion whose header names a key (kid)
// the client does not publish, refetching a jwks_uri once, as fosite would:
// a failed client authentication (RFC 7523 §3.2), which fosite would report
// as invalid_request. Anything else is left to fosite.
func (p *Provider) checkAssertionKey(ctx context.Context, rawHeader, clientID string) error {
	b, err := base64.RawURLEncoding.DecodeString(rawHeader)
	var header struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(b, &header) != nil || header.Kid == "" || clientID == "" {
		return nil
	}
	c, err := p.clients.get(ctx, clientID)
	if err != nil {
		return nil // fosite answers an unknown client (and a database error)
	}
	cl := &client{c: c}
	publishes := func(set *josev3.JSONWebKeySet) bool { return set != nil && len(set.Key(header.Kid)) > 0 }
	switch {
	case c.JWKS != "":
		if publishes(cl.GetJSONWebKeys()) {
			return nil
		}
	case c.JWKSURI != "":
		for _, refresh := range []bool{false, true} {
			set, err := p.clientKeys.Resolve(ctx, c.JWKSURI, refresh)
			if err != nil {
				return err
			}
			if publishes(set) {
				return nil
			}
		}
	default:
		return nil
	}
	return fosite.ErrInvalidClient.WithHint("The client assertion is signed with a key the client does not publish.")
}

// tokenError answers a failed token request. A refresh token that another
// request rotated at the same moment (storage.ErrConflict) gets, within a
// grace period, the winner's pair; otherwise it is reuse, and the whole
// family is revoked.
func (p tokenFlow) tokenError(w http.ResponseWriter, r *http.Request, refresh bool, signature string, err error) {
	ctx := r.Context()
	if refresh && errors.Is(err, storage.ErrConflict) {
		if p.refreshGrace > 0 && p.graceReplay(ctx, w, r, signature, graceWait) {
			return
		}
		p.revokeFamily(ctx, signature)
	}
	p.writeJSONError(w, r, err)
}

// introspect is RFC 7662 token introspection. Only confidential clients that
// authenticate (basic or post) may call it, and a client learns about a token
// only when it was issued to it or names it in its audience.
func (p tokenFlow) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
		p.writeJSONError(w, r, fosite.ErrInvalidClient.WithHint("Introspection requires client authentication."))
		return
	}
	if !p.readClientForm(w, r) {
		return
	}
	caller, err := p.oauth.(clientAuthenticator).AuthenticateClient(ctx, r, r.PostForm)
	if err != nil && p.retryWithFreshClient(r, err) {
		caller, err = p.oauth.(clientAuthenticator).AuthenticateClient(ctx, r, r.PostForm)
	}
	if err != nil || caller.IsPublic() {
		if err != nil && errors.Is(err, storage.ErrUnavailable) {
			p.writeJSONError(w, r, err)
			return
		}
		p.writeJSONError(w, r, fosite.ErrInvalidClient.WithHint("Introspection requires a confidential client's credentials."))
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHint("The 'token' parameter is missing."))
		return
	}
	sess := newSession()
	tu, ar, err := p.oauth.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), sess)
	if err != nil && errors.Is(err, storage.ErrUnavailable) {
		p.writeJSONError(w, r, err)
		return
	}
	resp := &fosite.IntrospectionResponse{Active: false}
	if err == nil && (ar.GetClient().GetID() == caller.GetID() || ar.GetGrantedAudience().Has(caller.GetID())) {
		if c, ok := ar.GetClient().(*client); ok && sess.Subject != "" {
			// The token's client sees its pairwise subject here too (the
			// loaded session is a copy, never written back).
			sess.Subject = p.subjectFor(c.c, sess.Subject)
		}
		resp = &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: tu}
		if tu == fosite.AccessToken {
			resp.AccessTokenType = fosite.BearerAccessToken
		}
	}
	p.oauth.WriteIntrospectionResponse(ctx, w, resp)
}

// revoke is RFC 7009 token revocation.
func (p tokenFlow) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readClientForm(w, r) {
		return
	}
	err := p.oauth.NewRevocationRequest(ctx, r)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.ErrorField != "unsupported_token_type" && rfc.CodeField != http.StatusOK {
			p.writeJSONError(w, r, err)
			return
		}
	}
	p.oauth.WriteRevocationResponse(ctx, w, nil)
}

// writeJSONError writes an RFC 6749 §5.2 error: 401 with WWW-Authenticate
// for invalid_client, 503 with Retry-After when the database is away,
// server_error without details otherwise.
func (p *Provider) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := p.toRFC(r, err)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	status := rfc.CodeField
	switch rfc.ErrorField {
	case "invalid_client":
		status = http.StatusUnauthorized
		// The error in the challenge too: some relying-party libraries
		// (openid-client) read it there rather than in the body.
		h.Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="gatehouse", charset="UTF-8", error="invalid_client", error_description=%q`,
			challengeText(safeDescription(rfc.GetDescription()))))
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
		h.Set("Retry-After", "5")
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	body := map[string]string{"error": rfc.ErrorField}
	if d := safeDescription(rfc.GetDescription()); d != "" {
		body["error_description"] = d
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeServerError shows a generic error page and logs the cause.
func (p *Provider) writeServerError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, storage.ErrUnavailable) || r.Context().Err() != nil {
		if r.Context().Err() == nil {
			p.log.Warn("storage unavailable", "path", r.URL.Path, "request_id", w.Header().Get("X-Request-Id"), "cause", err)
		}
		w.Header().Set("Retry-After", "5")
		p.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.", "temporarily_unavailable")
		return
	}
	p.log.Error("server error", "path", r.URL.Path, "request_id", w.Header().Get("X-Request-Id"), "cause", err)
	p.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request.", "server_error")
}

// challengeText makes a description safe inside a quoted header parameter.
func challengeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}

// errTwoBearerTokens: RFC 6750 §2 allows one way of sending the token.
var errTwoBearerTokens = errors.New("the access token was sent in more than one way")

// bearerToken reads an access token from the Authorization header or, for a
// form POST, the body (RFC 6750 §2.1, §2.2); never from the query string.
// A token sent both ways is refused.
func bearerToken(r *http.Request) (string, error) {
	inBody := ""
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			if v := r.PostForm["access_token"]; len(v) > 1 {
				return "", errTwoBearerTokens
			}
			inBody = r.PostForm.Get("access_token")
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			return "", nil
		}
		if inBody != "" {
			return "", errTwoBearerTokens
		}
		return strings.TrimSpace(tok), nil
	}
	return inBody, nil
}

// bearerError is a protected resource's RFC 6750 §3 error. An empty Code
// is a request that carried no token (§3.1: the challenge names no error).
type bearerError struct {
	Status      int
	Code        string
	Description string
	Scope       string
}

func (e *bearerError) Error() string { return e.Code + ": " + e.Description }

// writeBearerError answers with the challenge (error, description and
// scope) and the same error as JSON.
func writeBearerError(w http.ResponseWriter, e *bearerError) {
	ch := `Bearer realm="gatehouse"`
	code := e.Code
	if code != "" {
		ch += fmt.Sprintf(`, error=%q, error_description="%s"`, code, challengeText(e.Description))
	} else {
		code = "invalid_request"
	}
	if e.Scope != "" {
		ch += fmt.Sprintf(`, scope=%q`, e.Scope)
	}
	w.Header().Set("WWW-Authenticate", ch)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": safeDescription(e.Description)})
}

// userinfo returns the claims the access token's scopes release. Errors
// leave through one edge: RFC 6750 for the token, RFC 6749 JSON otherwise.
func (p userinfoEndpoint) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	claims, c, err := p.userinfoClaims(w, r)
	var be *bearerError
	switch {
	case errors.As(err, &be):
		writeBearerError(w, be)
	case err != nil:
		p.writeJSONError(w, r, err)
	case c.Metadata.UserinfoSignedResponseAlg != "":
		p.signedUserinfo(w, r, c, claims)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(claims)
	}
}

// userinfoClaims checks the bearer token and gathers the claims, with the
// client the token was issued to.
func (p userinfoEndpoint) userinfoClaims(w http.ResponseWriter, r *http.Request) (map[string]any, storage.Client, error) {
	ctx := r.Context()
	tok, err := bearerToken(r)
	switch {
	case err != nil:
		return nil, storage.Client{}, &bearerError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Send the access token one way only (RFC 6750 §2)."}
	case tok == "":
		return nil, storage.Client{}, &bearerError{Status: http.StatusUnauthorized, Description: "An access token is required."}
	}
	sess := newSession()
	use, ar, err := p.oauth.IntrospectToken(ctx, tok, fosite.AccessToken, sess)
	if err == nil && use != fosite.AccessToken {
		// The type is only a hint to fosite: a refresh token is found too.
		err = fosite.ErrRequestUnauthorized.WithHint("Only an access token is accepted here.")
	}
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return nil, storage.Client{}, err
		}
		return nil, storage.Client{}, &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The access token is invalid, expired or revoked."}
	}
	corsGuard(p).allowOrigin(ctx, w, r, ar.GetClient().GetID())
	if !ar.GetGrantedScopes().Has("openid") || sess.Subject == "" {
		return nil, storage.Client{}, &bearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "The access token was not granted the openid scope.", Scope: "openid"}
	}
	user, err := p.store.Users.GetUser(ctx, sess.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound) || err == nil && user.Disabled:
		return nil, storage.Client{}, &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "The account no longer exists."}
	case err != nil:
		return nil, storage.Client{}, err
	}
	c, ok := ar.GetClient().(*client)
	if !ok {
		return nil, storage.Client{}, errors.New("userinfo: token of an unknown client type")
	}
	claims := scopeClaims(user, ar.GetGrantedScopes())
	pick(claims, user, sess.UserinfoClaims)
	claims["sub"] = p.subjectFor(c.c, user.Subject)
	return claims, c.c, nil
}

// signedUserinfo answers with the claims as a JWT signed with the
// client's userinfo_signed_response_alg, with iss and aud (OpenID Connect
// Core §5.3.2) and no nonce.
func (p userinfoEndpoint) signedUserinfo(w http.ResponseWriter, r *http.Request, c storage.Client, claims map[string]any) {
	mc := fjwt.MapClaims{"iss": p.issuer, "aud": c.ID, "iat": p.now().Unix()}
	for k, v := range claims {
		mc[k] = v
	}
	signed, _, err := p.signer.Generate(r.Context(), mc, &fjwt.Headers{Extra: map[string]any{"alg": keys.HeaderAlg(c.Metadata.UserinfoSignedResponseAlg)}})
	if err != nil {
		p.writeServerError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwt")
	_, _ = w.Write([]byte(signed))
}

// jwks publishes the public signing keys.
func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// Never cached longer than a new key is published before it signs.
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(p.keys.JWKSMaxAge().Seconds())))
	w.Header().Set("Access-Control-Allow-Origin", "*")
	body, err := p.keys.PublicKeysJSON(r.Context())
	if err != nil {
		p.log.Error("jwks", "err", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(body)
}

// idTokenHint is what a verified id_token_hint says.
type idTokenHint struct {
	sub, sid string
	aud      []string
}

// verifyIDTokenHint checks that hint is an ID token this server signed
// (expired ones are accepted, as OIDC allows) and returns its subject, sid
// and audience.
func (p *Provider) verifyIDTokenHint(r *http.Request, hint string) (idTokenHint, error) {
	tok, err := p.signer.Decode(r.Context(), hint)
	var ve *fjwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Errors == fjwt.ValidationErrorExpired) {
		return idTokenHint{}, fmt.Errorf("id_token_hint: %w", err)
	}
	if tok == nil {
		return idTokenHint{}, errors.New("id_token_hint: not valid")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.issuer {
		return idTokenHint{}, errors.New("id_token_hint: wrong issuer")
	}
	var h idTokenHint
	h.sub, _ = tok.Claims["sub"].(string)
	h.sid, _ = tok.Claims["sid"].(string)
	if h.sub == "" {
		return idTokenHint{}, errors.New("id_token_hint: no subject")
	}
	switch a := tok.Claims["aud"].(type) {
	case string:
		h.aud = []string{a}
	case []interface{}:
		for _, v := range a {
			if s, ok := v.(string); ok {
				h.aud = append(h.aud, s)
			}
		}
	}
	return h, nil
}

// logout is RP-initiated logout 1.0. It ends the browser session when a
// verified id_token_hint names that session, and otherwise only once the
// user confirms (a cross-site GET or POST ends nothing). It redirects only
// to a post_logout_redirect_uri registered, exactly, by the client a
// verified hint names, or, without a hint, by the client_id given.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.renderError(w, r, http.StatusBadRequest, "Bad request", "The logout request could not be read.", "invalid_request")
		return
	}
	hint, target, state, clientID := r.Form.Get("id_token_hint"), r.Form.Get("post_logout_redirect_uri"), r.Form.Get("state"), r.Form.Get("client_id")
	var h idTokenHint
	var candidates []string // the clients whose registered URIs may be returned to
	message := ""
	if hint != "" {
		var err error
		if h, err = p.verifyIDTokenHint(r, hint); err != nil {
			h, message = idTokenHint{}, "The application's logout request could not be verified, so you were not sent back to it."
		} else if clientID != "" && !contains(h.aud, clientID) {
			h, message = idTokenHint{}, "The application's logout request names another application, so you were not sent back to it."
		} else {
			candidates = h.aud
		}
	} else if clientID != "" {
		candidates = []string{clientID}
	}
	redirect := ""
	if target != "" && message == "" {
		for _, id := range candidates {
			c, err := p.store.Clients.GetClient(ctx, id)
			if err != nil || !contains(c.PostLogoutRedirectURIs, target) {
				continue
			}
			if u, err := url.Parse(target); err == nil {
				q := u.Query()
				if state != "" {
					q.Set("state", state)
				}
				u.RawQuery = q.Encode()
				redirect = u.String()
			}
			break
		}
		if redirect == "" {
			message = "The address the application asked to return to is not registered, so you were not sent back to it."
		}
	}
	out, err := p.interactor.Logout(ctx, w, r, interaction.LogoutRequest{HintSID: h.sid, Params: r.Form})
	if err != nil {
		p.writeServerError(w, r, err)
		return
	}
	if out.Asked {
		return
	}
	// The ended session's clients, read once: named on the page, and
	// framed when they registered front-channel logout.
	ended, err := frontchannel.Ended(ctx, p.store.Clients, out.Ended.SID, out.Ended.Clients)
	if err != nil {
		p.log.Error("signed-out page", "request_id", httpx.RequestID(ctx), "err", err)
	}
	var apps []string
	for _, c := range ended.Clients {
		apps = append(apps, c.Name)
	}
	frames := frontchannel.Frames(p.issuer, []frontchannel.Session{ended})
	if redirect != "" && len(frames) == 0 {
		http.Redirect(w, r, redirect, http.StatusSeeOther)
		return
	}
	frontchannel.Allow(w.Header(), frames)
	data := map[string]any{"Message": message, "Apps": apps, "Frames": frames}
	if redirect != "" {
		// The registered, exactly matched post_logout_redirect_uri: the
		// page continues there once every frame has loaded.
		data["Next"] = template.URL(redirect) // #nosec G203 -- registered and validated
	}
	if err := p.pages.Render(w, http.StatusOK, "logged_out", nonceOf(r), data); err != nil {
		p.log.Error("render logged_out", "err", err)
	}
}
