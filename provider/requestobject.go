package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/internal/netguard"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Request objects (RFC 9101, OpenID Connect Core §6): an authorization
// request sent as a JWT, by value (request) or by reference (request_uri,
// one the client registered, fetched through the guarded client).

const (
	// maxRequestObject bounds a request object, by value or fetched.
	maxRequestObject = 64 << 10
	// requestObjectSkew is the clock skew allowed on exp, nbf and iat.
	requestObjectSkew = 5 * time.Minute
)

// authParams are the client-authentication parameters of a pushed request:
// they stay beside the request object's parameters.
var authParams = []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"}

// jwtOnlyClaims describe a request object itself, not the request.
var jwtOnlyClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

// resolveRequestObject replaces an authorization request that comes as a
// request object with the object's parameters: RFC 9101 §5 uses only what
// the object holds (a parameter added to the URL cannot change a signed
// request), keeping the client authentication of a pushed request, and
// response_type and scope from the URL where the object has none (OpenID
// Connect Core §6.1 requires them there). A request that names an unknown
// client is left to fosite. A failure returns the error to answer with, to
// the redirect URI fosite verifies from the URL, and removes the object so
// fosite does not read it.
func (p authorizeFlow) resolveRequestObject(ctx context.Context, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return nil
	}
	obj, uri := r.Form.Get("request"), r.Form.Get("request_uri")
	if strings.HasPrefix(uri, parURIPrefix) {
		return nil // a pushed request, checked when it was pushed
	}
	id := r.Form.Get("client_id")
	if user, _, ok := r.BasicAuth(); ok && id == "" {
		// A pushed request's client may name itself only in its credentials.
		id, _ = url.QueryUnescape(user)
	}
	c, cerr := p.clients.get(ctx, id)
	if obj == "" && uri == "" {
		if cerr == nil && c.Metadata.RequireSignedRequestObject {
			return fosite.ErrInvalidRequest.WithHint("This client sends its authorization requests as signed request objects (require_signed_request_object).")
		}
		return nil
	}
	params, err := p.requestObjectParams(ctx, c, cerr, obj, uri)
	if err != nil {
		for _, k := range []string{"request", "request_uri"} {
			r.Form.Del(k)
			r.PostForm.Del(k)
		}
		if cerr != nil {
			return nil // fosite reports the unknown client
		}
		return err
	}
	form := url.Values{}
	for _, k := range authParams {
		if v, ok := r.Form[k]; ok {
			form[k] = v
		}
	}
	for _, k := range []string{"response_type", "scope"} {
		if v, ok := r.Form[k]; ok && !params.Has(k) {
			form[k] = v
		}
	}
	for k, v := range params {
		form[k] = v
	}
	r.Form, r.PostForm = form, url.Values{}
	if r.Method == http.MethodPost {
		r.PostForm = form // fosite reads a pushed request from the body
	}
	return nil
}

// requestObjectParams reads, verifies and flattens a request object.
func (p authorizeFlow) requestObjectParams(ctx context.Context, c storage.Client, cerr error, obj, uri string) (url.Values, error) {
	if cerr != nil {
		return nil, cerr
	}
	if obj != "" && uri != "" {
		return nil, fosite.ErrInvalidRequest.WithHint("Send 'request' or 'request_uri', not both.")
	}
	if uri != "" {
		if !slices.Contains(c.Metadata.RequestURIs, uri) {
			return nil, fosite.ErrInvalidRequestURI.WithHint("The request_uri is not one the client registered (request_uris).")
		}
		var err error
		if obj, err = p.fetchRequestObject(ctx, uri); err != nil {
			return nil, fosite.ErrInvalidRequestURI.WithHint("The request object could not be fetched from the request_uri.").WithWrap(err).WithDebug(err.Error())
		}
	}
	claims, err := p.verifyRequestObject(ctx, c, strings.TrimSpace(obj))
	if err != nil {
		return nil, err
	}
	return flattenRequestObject(c.ID, claims)
}

// fetchRequestObject GETs a request object from a registered request_uri,
// bounded in time and size, never from a private address (outside --dev).
func (p authorizeFlow) fetchRequestObject(ctx context.Context, uri string) (string, error) {
	body, err := netguard.Fetch(ctx, p.requestObjects, "request_uri", uri, "application/oauth-authz-req+jwt, application/jwt", maxRequestObject)
	return string(body), err
}

// invalidObject is an invalid_request_object error with a reason.
func invalidObject(format string, a ...any) *fosite.RFC6749Error {
	return fosite.ErrInvalidRequestObject.WithHintf(format, a...)
}

// verifyRequestObject checks the object's signature with the client's
// registered keys (or accepts it unsigned where the client registered
// none), and its iss, aud, exp, nbf and iat, and returns its claims.
func (p authorizeFlow) verifyRequestObject(ctx context.Context, c storage.Client, obj string) (map[string]any, error) {
	if len(obj) > maxRequestObject {
		return nil, invalidObject("The request object is larger than %d bytes.", maxRequestObject)
	}
	parts := strings.Split(obj, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, invalidObject("Encrypted request objects are not supported; sign it.")
	default:
		return nil, invalidObject("The request object is not a JWT.")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &header) != nil {
		return nil, invalidObject("The request object's header cannot be read.")
	}
	registered := c.Metadata.RequestObjectSigningAlg
	if registered != "" && header.Alg != registered {
		return nil, invalidObject("The request object is signed with %s; this client registered %s.", header.Alg, registered)
	}
	var payload []byte
	if header.Alg == "none" {
		if registered != "none" || parts[2] != "" {
			return nil, invalidObject("Unsigned request objects are accepted only from a client registered with request_object_signing_alg none.")
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return nil, invalidObject("The request object's payload cannot be read.")
		}
		payload = raw
	} else {
		var err error
		if payload, err = p.verifyRequestSignature(ctx, c, obj); err != nil {
			return nil, err
		}
	}
	var claims map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil || claims == nil {
		return nil, invalidObject("The request object's claims are not a JSON object.")
	}
	if err := p.checkRequestObjectClaims(c.ID, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// verifyRequestSignature verifies a signed object with the client's keys:
// inline jwks, or its jwks_uri (refetched once for an unknown kid).
func (p authorizeFlow) verifyRequestSignature(ctx context.Context, c storage.Client, obj string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(clientspec.RequestObjectAlgs))
	for i, a := range clientspec.RequestObjectAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(obj, algs)
	if err != nil {
		return nil, invalidObject("The request object must be signed with one of %s.", strings.Join(clientspec.RequestObjectAlgs, ", ")).WithWrap(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	var keys []jose.JSONWebKey
	for refetch := false; ; refetch = true {
		switch {
		case c.JWKS != "":
			var set jose.JSONWebKeySet
			if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
				return nil, invalidObject("The client's registered keys cannot be read.")
			}
			keys = set.Keys
		case c.JWKSURI != "":
			set, err := p.clientKeys.Resolve(ctx, c.JWKSURI, refetch)
			if err != nil {
				return nil, invalidObject("The client's jwks_uri could not be fetched.").WithWrap(err)
			}
			keys = keys[:0]
			for _, k := range set.Keys {
				keys = append(keys, jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID, Algorithm: k.Algorithm, Use: k.Use})
			}
		default:
			return nil, invalidObject("The client registered no keys (jwks or jwks_uri) to verify a signed request object.")
		}
		known := kid == "" || slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
		if known || refetch || c.JWKSURI == "" {
			break
		}
	}
	for _, k := range keys {
		if (kid != "" && k.KeyID != kid) || (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != jws.Signatures[0].Header.Algorithm) {
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, invalidObject("The request object's signature does not verify with the client's registered keys.")
}

// checkRequestObjectClaims applies RFC 9101 §4 and §6.3: iss is the
// client, aud is this server, and exp, nbf and iat (if present) hold.
func (p authorizeFlow) checkRequestObjectClaims(clientID string, claims map[string]any) error {
	if iss, ok := claims["iss"]; ok && iss != clientID {
		return invalidObject("The request object's iss must be the client_id.")
	}
	if aud, ok := claims["aud"]; ok {
		var auds []any
		switch v := aud.(type) {
		case string:
			auds = []any{v}
		case []any:
			auds = v
		}
		if !slices.Contains(auds, any(p.issuer)) && !slices.Contains(auds, any(p.issuer+PathAuthorize)) {
			return invalidObject("The request object's aud must be this server's issuer.")
		}
	}
	if id, ok := claims["client_id"]; ok && id != clientID {
		return invalidObject("The request object's client_id differs from the request's.")
	}
	if _, ok := claims["request"]; ok {
		return invalidObject("A request object must not contain 'request' or 'request_uri'.")
	}
	if _, ok := claims["request_uri"]; ok {
		return invalidObject("A request object must not contain 'request' or 'request_uri'.")
	}
	now := p.now()
	num := func(k string) (time.Time, bool, error) {
		v, ok := claims[k]
		if !ok {
			return time.Time{}, false, nil
		}
		n, isNum := v.(json.Number)
		f, err := n.Float64()
		if !isNum || err != nil {
			return time.Time{}, true, invalidObject("The request object's %s must be a number of seconds.", k)
		}
		return time.Unix(int64(f), 0), true, nil
	}
	if exp, ok, err := num("exp"); err != nil {
		return err
	} else if ok && !now.Before(exp.Add(requestObjectSkew)) {
		return invalidObject("The request object has expired.")
	}
	for _, k := range []string{"nbf", "iat"} {
		if t, ok, err := num(k); err != nil {
			return err
		} else if ok && t.After(now.Add(requestObjectSkew)) {
			return invalidObject("The request object's %s is in the future.", k)
		}
	}
	return nil
}

// flattenRequestObject turns the object's claims into request parameters:
// strings as they are, numbers and booleans as written, objects (claims)
// and arrays as compact JSON.
func flattenRequestObject(clientID string, claims map[string]any) (url.Values, error) {
	out := url.Values{}
	for k, v := range claims {
		if slices.Contains(jwtOnlyClaims, k) {
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			out.Set(k, v)
		case json.Number:
			out.Set(k, v.String())
		case bool:
			out.Set(k, fmt.Sprint(v))
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, invalidObject("The request object's %s cannot be read.", k)
			}
			out.Set(k, string(b))
		}
	}
	out.Set("client_id", clientID)
	return out, nil
}
