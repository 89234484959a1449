package provider

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

func nonceOf(r *http.Request) string { return httpx.Nonce(r.Context()) }

// authorize is the authorization endpoint (GET and POST).
func (p authorizeFlow) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	onlyPushed(r)
	requestObject := p.resolveRequestObject(ctx, r)
	p.ignoreUnknownScopes(ctx, r)
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err == nil && requestObject != nil {
		err = requestObject // answered like any error: to a verified redirect URI
	}
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	ar.SetID(orderedRequestID())
	if !redirectRegistered(ar) {
		// Never redirect to a URI the client did not register.
		p.renderError(w, r, http.StatusBadRequest, "Unknown redirect address",
			"The application asked to return to an address it did not register. Tell the application's developers.", "invalid_request")
		return
	}
	if err := p.checkPKCE(ar); err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	req, err := p.interactionRequest(r, ar)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	dec, err := p.interactor.Decide(ctx, r, req)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if dec.Grant == nil {
		http.Redirect(w, r, dec.RedirectTo, http.StatusSeeOther)
		return
	}
	p.grant(w, r.WithContext(ctx), ar, *dec.Grant, req.RequestedAt)
}

// resume finishes a login flow: the browser comes back here from consent.
func (p authorizeFlow) resume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := p.interactor.Redeem(ctx, r, r.URL.Query().Get("flow"))
	if err != nil && g.Form == nil {
		if errors.Is(err, interaction.ErrFlowInvalid) {
			p.renderError(w, r, http.StatusBadRequest, "This sign-in link is no longer valid",
				"It has expired, was already used, or was opened in another browser. Go back to the application and start again.", "invalid_request")
			return
		}
		p.writeServerError(w, r, err)
		return
	}
	orig, rerr := http.NewRequestWithContext(ctx, http.MethodGet, p.issuer+PathAuthorize+"?"+g.Form.Encode(), nil)
	if rerr != nil {
		p.writeServerError(w, r, rerr)
		return
	}
	ar, perr := p.oauth.NewAuthorizeRequest(ctx, orig)
	if perr != nil {
		p.writeAuthorizeError(w, r, ar, perr)
		return
	}
	ar.SetID(orderedRequestID())
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	p.grant(w, r, ar, g, g.RequestedAt)
}

// onlyPushed keeps, of an authorization request that names a pushed
// request (RFC 9126), only client_id and request_uri: the pushed request is
// the whole request, and parameters added to the URL afterwards (prompt,
// max_age, login_hint …) must not change it. fosite would merge them.
func onlyPushed(r *http.Request) {
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Form.Get("request_uri"), parURIPrefix) {
		return
	}
	keep := url.Values{"client_id": r.Form["client_id"], "request_uri": r.Form["request_uri"]}
	r.Form, r.PostForm = keep, url.Values{}
}

// ignoreUnknownScopes drops from an authorization request the scope values
// its client may not have, before fosite (which would refuse the request
// with invalid_scope) sees them: OpenID Connect Core §3.1.2.1 asks to
// ignore scope values that are not understood, and the token response
// says which scopes were granted. An unknown client is left to fosite.
func (p authorizeFlow) ignoreUnknownScopes(ctx context.Context, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		return
	}
	raw, id := r.Form.Get("scope"), r.Form.Get("client_id")
	if raw == "" || id == "" {
		return
	}
	c, err := p.clients.get(ctx, id)
	if err != nil {
		return
	}
	asked := strings.Fields(raw)
	kept := slices.DeleteFunc(slices.Clone(asked), func(s string) bool { return !slices.Contains(c.Scopes, s) })
	if len(kept) == len(asked) {
		return
	}
	r.Form.Set("scope", strings.Join(kept, " "))
	if r.PostForm.Has("scope") {
		r.PostForm.Set("scope", strings.Join(kept, " "))
	}
}

// redirectRegistered applies RedirectURIMatches to the request's
// redirect_uri. fosite's own loopback rule ignores user information and
// compares decoded paths, so http://user@127.0.0.1:1/%63b passed for a
// registered http://127.0.0.1/cb.
func redirectRegistered(ar fosite.AuthorizeRequester) bool {
	raw := ar.GetRequestForm().Get("redirect_uri")
	return raw == "" || clientspec.RedirectURIMatches(raw, ar.GetClient().GetRedirectURIs())
}

// maxMaxAge is the largest max_age honoured (100 years, in seconds).
const maxMaxAge = 100 * 365 * 24 * 3600

// PKCE policies (pkce.required).
const (
	// PKCEAll requires PKCE from every client.
	PKCEAll = "all"
	// PKCEPublic requires it from public clients (and clients registered
	// with require_pkce); a confidential client may instead bind its code
	// to an OpenID Connect nonce (RFC 9700 §2.1.1).
	PKCEPublic = "public"
)

// checkPKCE refuses, before any login, an authorization request without
// the PKCE the policy asks of its client, and any challenge method but
// S256. Without PKCE (allowed only for a confidential client under
// pkce.required: public), the request must be OpenID Connect with a nonce,
// which then binds the code, unless pkce.allow_unbound lets the client go
// without both. A code issued with a challenge always needs
// its verifier, and a verifier for a code issued without one is refused
// (fosite's PKCE handler: no downgrade either way).
func (p authorizeFlow) checkPKCE(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	if form.Get("code_challenge") != "" {
		if form.Get("code_challenge_method") != "S256" {
			return fosite.ErrInvalidRequest.WithHint("The code_challenge_method must be S256.")
		}
		return nil
	}
	c, _ := ar.GetClient().(*client)
	switch {
	case p.pkceForAll || ar.GetClient().IsPublic() || (c != nil && c.c.RequirePKCE):
		return fosite.ErrInvalidRequest.WithHint("A PKCE code_challenge (method S256) is required.")
	case !ar.GetRequestedScopes().Has("openid"):
		return fosite.ErrInvalidRequest.WithHint("Without PKCE, an OpenID Connect request is required (or send a PKCE code_challenge).")
	case form.Get("nonce") == "" && !p.allowUnbound:
		return fosite.ErrInvalidRequest.WithHint("Without PKCE, an OpenID Connect request with a nonce is required (or send a PKCE code_challenge).")
	}
	return nil
}

// interactionRequest turns a validated fosite request into what consent sees.
func (p authorizeFlow) interactionRequest(r *http.Request, ar fosite.AuthorizeRequester) (interaction.AuthorizeRequest, error) {
	form := ar.GetRequestForm()
	c := ar.GetClient().(*client)
	req := interaction.AuthorizeRequest{
		ClientID:      c.c.ID,
		ClientName:    c.c.Name,
		ClientURI:     c.c.Metadata.ClientURI,
		PolicyURI:     c.c.Metadata.PolicyURI,
		TOSURI:        c.c.Metadata.TOSURI,
		FirstParty:    c.c.FirstParty,
		SubjectSector: clientspec.SubjectSector(c.c),
		RequireMFA:    c.c.RequireMFA,
		Scopes:        ar.GetRequestedScopes(),
		Prompt:        fosite.RemoveEmpty(strings.Split(form.Get("prompt"), " ")),
		MaxAge:        -1,
		LoginHint:     form.Get("login_hint"),
		ACRValues:     fosite.RemoveEmpty(strings.Split(form.Get("acr_values"), " ")),
		Form:          url.Values{},
		RequestedAt:   p.now().UTC().Truncate(time.Second),
	}
	if c.c.Metadata.LogoURI != "" {
		req.Logo = ClientLogoURL(c.c.ID)
	}
	for k, v := range form {
		req.Form[k] = append([]string(nil), v...)
	}
	// A pushed request is single-use and already merged into the form; the
	// login round-trip replays the parameters themselves. Client credentials
	// never travel with the flow.
	if strings.HasPrefix(req.Form.Get("request_uri"), parURIPrefix) {
		req.Form.Del("request_uri")
	}
	for _, k := range secretParams {
		req.Form.Del(k)
	}
	if req.HasPrompt("none") && len(req.Prompt) > 1 {
		return req, fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other prompt values (OpenID Connect Core §3.1.2.1).")
	}
	if v := form.Get("max_age"); v == "" && c.c.Metadata.DefaultMaxAge > 0 {
		// The client's registered default_max_age, for the login step and
		// for fosite's auth_time check alike.
		form.Set("max_age", strconv.FormatInt(c.c.Metadata.DefaultMaxAge, 10))
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return req, fosite.ErrInvalidRequest.WithHint("The 'max_age' parameter must be a non-negative number of seconds.")
		}
		// Any age past a century is no limit; clamped so that it cannot
		// overflow a duration here or in fosite's auth_time check, which
		// reads the same form.
		n = min(n, maxMaxAge)
		req.MaxAge = int64(n)
		form.Set("max_age", strconv.FormatUint(n, 10))
		req.Form.Set("max_age", strconv.FormatUint(n, 10))
	}
	if hint := form.Get("id_token_hint"); hint != "" {
		h, err := p.verifyIDTokenHint(r, hint)
		if err != nil {
			return req, fosite.ErrInvalidRequest.WithHint("The 'id_token_hint' is not an ID token issued by this server.").WithWrap(err)
		}
		req.HintSubject = h.sub
	}
	return req, p.applyClaimsRequest(&req, form.Get("claims"), c.c.Scopes)
}

// applyClaimsRequest lets the `claims` parameter shape the login: the
// scopes of claims asked for one by one are put to the user like requested
// scopes (if the client may have them at all), acr values join acr_values,
// and a sub value names the user, like an id_token_hint (OpenID Connect
// Core §5.5.1). What was asked for is checked again when the code is
// issued (grant).
func (p authorizeFlow) applyClaimsRequest(req *interaction.AuthorizeRequest, raw string, allowed []string) error {
	cr, err := parseClaimsRequest(raw)
	if err != nil {
		return err
	}
	for _, s := range cr.impliedScopes() {
		if !slices.Contains(req.Scopes, s) && slices.Contains(allowed, s) {
			req.Scopes = append(slices.Clone(req.Scopes), s)
		}
	}
	if acr := cr.IDToken["acr"]; acr != nil {
		vals := acr.strings()
		supported := false
		for _, v := range vals {
			if !slices.Contains(req.ACRValues, v) {
				req.ACRValues = append(req.ACRValues, v)
			}
			supported = supported || v == ACRSingleFactor || v == ACRMultiFactor
		}
		if acr.Essential && len(vals) > 0 && !supported {
			return fosite.ErrAccessDenied.WithHint("None of the essential acr values requested can be met.")
		}
	}
	if sub := cr.IDToken["sub"].strings(); len(sub) > 0 {
		if req.HintSubject != "" && req.HintSubject != sub[0] {
			return fosite.ErrInvalidRequest.WithHint("The id_token_hint and the requested sub name different users.")
		}
		req.HintSubject = sub[0]
	}
	return nil
}

// grantUser is the user a grant is for: as the decision read it, or read
// now (a grant redeemed from a flow).
func (p authorizeFlow) grantUser(ctx context.Context, g interaction.Grant) (storage.User, error) {
	if g.User != nil && g.User.Subject == g.Subject {
		return *g.User, nil
	}
	return p.store.Users.GetUser(ctx, g.Subject)
}

// grant issues the authorization response for a finished login.
func (p authorizeFlow) grant(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, g interaction.Grant, requestedAt time.Time) {
	ctx := r.Context()
	for _, s := range g.GrantedScopes {
		if ar.GetRequestedScopes().Has(s) {
			ar.GrantScope(s)
		}
	}
	user, err := p.grantUser(ctx, g)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The account no longer exists."))
			return
		}
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if user.Disabled {
		p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The account is disabled."))
		return
	}
	cr, err := parseClaimsRequest(ar.GetRequestForm().Get("claims"))
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if acr := cr.IDToken["acr"]; acr != nil && acr.Essential {
		if vals := acr.strings(); len(vals) > 0 && !slices.Contains(vals, g.ACR) {
			// OpenID Connect Core §5.5.1.1: an essential acr not met is a
			// failed authentication.
			p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The sign-in did not reach the essential acr requested."))
			return
		}
	}
	cl := ar.GetClient().(*client).c
	seen := p.subjectFor(cl, g.Subject)
	if sub := cr.IDToken["sub"].strings(); len(sub) > 0 && sub[0] != seen {
		p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The requested user is not the one signed in."))
		return
	}
	extra := scopeClaims(user, ar.GetGrantedScopes())
	pick(extra, user, released(cr.IDToken, g.GrantedScopes))
	if g.SessionID != "" {
		extra["sid"] = g.SessionID
	}
	sess := &session{UserinfoClaims: released(cr.Userinfo, g.GrantedScopes)}
	sess.DefaultSession = openid.DefaultSession{
		Claims: &jwt.IDTokenClaims{
			Subject:                             seen, // the ID token's sub; the session keeps the local one
			AuthTime:                            g.AuthTime.UTC().Truncate(time.Second),
			RequestedAt:                         requestedAt,
			AuthenticationMethodsReferences:     g.AMR,
			AuthenticationContextClassReference: g.ACR,
			Extra:                               extra,
		},
		Headers:  &jwt.Headers{Extra: map[string]interface{}{}},
		Subject:  g.Subject,
		Username: user.Email,
	}
	if alg := cl.IDTokenSignedResponseAlg; alg != "" {
		// The client's ID-token algorithm travels with the session, so the
		// signer and fosite's at_hash both follow it (see keys.Signer).
		sess.Headers.Extra["alg"] = keys.HeaderAlg(alg)
	}
	// The code, PKCE and OIDC records are written in one statement, before
	// the code leaves the server.
	ctx, b := withBatch(ctx)
	b.startBuffering()
	resp, err := p.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err == nil {
		err = p.fs.flushInserts(ctx, b)
	}
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	params := url.Values{}
	for k, v := range resp.GetParameters() {
		params[k] = v
	}
	p.writeAuthorizeRedirect(w, r, ar, params)
}

// writeAuthorizeRedirect sends the response to the verified redirect URI,
// with RFC 9207 `iss`, in the requested response mode, with 303 so the
// browser never re-posts credentials (RFC 9700 §4.12).
func (p authorizeFlow) writeAuthorizeRedirect(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, params url.Values) {
	params.Set("iss", p.issuer)
	if st := ar.GetState(); st != "" {
		params.Set("state", st)
	}
	w.Header().Set("Cache-Control", "no-store")
	uri := ar.GetRedirectURI()
	switch ar.GetResponseMode() {
	case fosite.ResponseModeFormPost:
		data := map[string]any{"Action": uri.String(), "Params": params}
		if err := p.pages.Render(w, http.StatusOK, "form_post", nonceOf(r), data); err != nil {
			p.log.Error("render form_post", "err", err)
		}
	case fosite.ResponseModeFragment:
		http.Redirect(w, r, withParams(uri, params, true), http.StatusSeeOther)
	default:
		http.Redirect(w, r, withParams(uri, params, false), http.StatusSeeOther)
	}
}

// writeAuthorizeError redirects an error to the client only when the
// redirect URI was verified; otherwise it shows an error page.
func (p authorizeFlow) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := p.toRFC(r, err)
	if ar == nil || !ar.IsRedirectURIValid() {
		p.renderError(w, r, rfc.CodeField, "The request cannot be completed", safeDescription(rfc.GetDescription()), rfc.ErrorField)
		return
	}
	params := url.Values{"error": {rfc.ErrorField}}
	if d := safeDescription(rfc.GetDescription()); d != "" {
		params.Set("error_description", d)
	}
	p.writeAuthorizeRedirect(w, r, ar, params)
}

// toRFC maps any error to an RFC 6749 error once, at the edge, and logs
// what the client will not see.
func (p *Provider) toRFC(r *http.Request, err error) *fosite.RFC6749Error {
	switch {
	case errors.Is(err, interaction.ErrLoginRequired):
		return fosite.ErrLoginRequired.WithWrap(err)
	case errors.Is(err, interaction.ErrConsentRequired):
		return fosite.ErrConsentRequired.WithWrap(err)
	case errors.Is(err, interaction.ErrAccessDenied):
		return fosite.ErrAccessDenied.WithHint("The user denied the request.")
	case r.Context().Err() != nil:
		// The client went away (pgx reports a cancelled query as a timeout):
		// nobody reads this answer, and it is not the server's fault.
		p.log.Info("client gone", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "cause", err)
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	case errors.Is(err, storage.ErrUnavailable):
		p.log.Warn("storage unavailable", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "cause", err)
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	case errors.Is(err, storage.ErrConflict):
		return fosite.ErrInvalidGrant.WithHint("The grant was used concurrently by another request.").WithWrap(err)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == fosite.ErrJTIKnown.ErrorField {
		// A replayed client assertion is a failed client authentication.
		return fosite.ErrInvalidClient.WithHint("The client assertion was already used.")
	}
	if rfc.ErrorField == fosite.ErrInvalidState.ErrorField {
		// Not an RFC 6749 error code: a missing or short state is a bad request.
		return fosite.ErrInvalidRequest.WithHint("The 'state' parameter is required and must be at least 8 characters long.")
	}
	if rfc.CodeField >= 500 {
		p.log.Error("server error", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "error", rfc.ErrorField, "debug", rfc.Debug(), "cause", err)
		return fosite.ErrServerError
	}
	p.log.Debug("oauth error", "request_id", httpx.RequestID(r.Context()), "error", rfc.ErrorField, "debug", rfc.Debug())
	return rfc
}

// safeDescription keeps the RFC 6749 error_description charset: printable
// ASCII without '"' and '\'.
func safeDescription(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}
	return string(b)
}

// scopeClaims are the standard claims the granted scopes release, with
// OIDC types: booleans as booleans, times as seconds, empty values omitted.
func scopeClaims(u storage.User, scopes fosite.Arguments) map[string]interface{} {
	c := map[string]interface{}{}
	set := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	pr := u.Profile
	if scopes.Has("profile") {
		set("name", u.Name)
		set("given_name", u.GivenName)
		set("family_name", u.FamilyName)
		set("middle_name", pr.MiddleName)
		set("nickname", pr.Nickname)
		set("preferred_username", cmp.Or(pr.PreferredUsername, u.Email))
		set("profile", pr.ProfileURL)
		set("picture", pr.Picture)
		set("website", pr.Website)
		set("gender", pr.Gender)
		set("birthdate", pr.Birthdate)
		set("zoneinfo", pr.Zoneinfo)
		set("locale", pr.Locale)
		c["updated_at"] = u.UpdatedAt.Unix()
	}
	if scopes.Has("email") && u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if scopes.Has("address") && pr.Address != nil && *pr.Address != (storage.Address{}) {
		c["address"] = pr.Address
	}
	if scopes.Has("phone") && pr.PhoneNumber != "" {
		c["phone_number"] = pr.PhoneNumber
		c["phone_number_verified"] = pr.PhoneNumberVerified
	}
	return c
}

// par is the pushed authorization request endpoint (RFC 9126): an
// authenticated client posts its authorization request and gets a
// single-use request_uri for the browser.
func (p authorizeFlow) par(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readClientForm(w, r) {
		return
	}
	if r.Form.Has("request_uri") {
		p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHint("A pushed authorization request must not contain request_uri (RFC 9126 §2.1)."))
		return
	}
	if err := p.resolveRequestObject(ctx, r); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	p.ignoreUnknownScopes(ctx, r)
	ar, err := p.oauth.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if !redirectRegistered(ar) {
		p.writeJSONError(w, r, fosite.ErrInvalidRequest.WithHint("The redirect_uri is not one the client registered."))
		return
	}
	if err := p.checkPKCE(ar); err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	resp, err := p.oauth.NewPushedAuthorizeResponse(ctx, ar, newSession())
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	p.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}
