package conformance

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// oidfConfigModules is oidcc-config-certification-test-plan (section B).
var oidfConfigModules = map[string]func(m *oidfModule){
	"oidcc-discovery-endpoint-verification": func(m *oidfModule) {
		u := m.disc["issuer"].(string) + "/.well-known/openid-configuration"
		m.check("C48", strings.HasPrefix(u, "https://") && strings.HasSuffix(u, "/.well-known/openid-configuration"), "%s", u)
		resp, err := m.hc.Get(u)
		if err != nil {
			m.t.Fatal(err)
		}
		resp.Body.Close()
		m.check("C49", resp.StatusCode == 200, "status %d", resp.StatusCode)
		m.check("C50", strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"), "%q", resp.Header.Get("Content-Type"))
		d := m.disc
		m.check("C51", has(strs(d["response_types_supported"]), "code"), "%v", d["response_types_supported"])
		iss, _ := d["issuer"].(string)
		m.check("C52", strings.TrimSuffix(iss, "/") == strings.TrimSuffix(strings.TrimSuffix(u, "/.well-known/openid-configuration"), "/"), "issuer %q", iss)
		pu, err := url.Parse(iss)
		m.check("C53", err == nil && pu.Scheme == "https" && pu.Host != "" && pu.RawQuery == "" && pu.Fragment == "" && pu.User == nil, "issuer %q", iss)
		m.check("C54", metadataTypes(d) == "", "%s", metadataTypes(d))
		unknown := []string{}
		for k := range d {
			if !slices.Contains(knownMetadata, k) {
				unknown = append(unknown, k)
			}
		}
		m.warn("C55", len(unknown) == 0, "members unknown to the suite's schema: "+strings.Join(unknown, ", "))
		m.check("C56", has(strs(d["subject_types_supported"]), "public") || has(strs(d["subject_types_supported"]), "pairwise"), "%v", d["subject_types_supported"])
		m.check("C57", has(strs(d["id_token_signing_alg_values_supported"]), "RS256"), "%v", d["id_token_signing_alg_values_supported"])
		_, isList := d["userinfo_signing_alg_values_supported"].([]any)
		m.check("C58", d["userinfo_signing_alg_values_supported"] == nil || isList, "%v", d["userinfo_signing_alg_values_supported"])
		httpsURL := func(k string) bool {
			s, _ := d[k].(string)
			p, err := url.Parse(s)
			return err == nil && p.Scheme == "https" && p.Host != ""
		}
		m.check("C59", httpsURL("authorization_endpoint"), "%v", d["authorization_endpoint"])
		m.check("C60", httpsURL("token_endpoint"), "%v", d["token_endpoint"])
		m.check("C61", httpsURL("userinfo_endpoint"), "%v", d["userinfo_endpoint"])
		m.check("C62", d["registration_endpoint"] == nil || httpsURL("registration_endpoint"), "%v", d["registration_endpoint"])
		jwks := m.getJSON(m.t, m.endpoint("jwks_uri"))
		m.check("C63", httpsURL("jwks_uri") && jwksProblems(jwks) == "", "%s", jwksProblems(jwks))
		flags := true
		for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported", "claims_parameter_supported"} {
			if v, ok := d[k]; ok {
				_, isBool := v.(bool)
				flags = flags && isBool
			}
		}
		m.check("C64", flags, "request, request_uri and claims parameter flags are not booleans: %v %v %v",
			d["request_parameter_supported"], d["request_uri_parameter_supported"], d["claims_parameter_supported"])
		algs := strs(d["request_object_signing_alg_values_supported"])
		m.warn("C65", d["request_object_signing_alg_values_supported"] == nil || has(algs, "RS256"), "request_object_signing_alg_values_supported lacks RS256")
		_, claimsList := d["claims_supported"].([]any)
		m.warn("C66", claimsList, "claims_supported missing")
		gt := strs(d["grant_types_supported"])
		m.check("C67", d["grant_types_supported"] == nil || len(gt) > 0, "%v", gt)
		m.check("C68", has(strs(d["scopes_supported"]), "openid"), "%v", d["scopes_supported"])
		badScope := slices.ContainsFunc(strs(d["scopes_supported"]), func(s string) bool {
			return s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r > 0x7e || r == '"' || r == '\\' })
		})
		m.check("C69", !badScope, "%v", d["scopes_supported"])
		m.check("C70", d["ui_locales_supported"] == nil && d["claims_locales_supported"] == nil || localesOK(d), "%v %v", d["ui_locales_supported"], d["claims_locales_supported"])
		bad := []string{}
		for k := range d {
			if strings.HasSuffix(k, "_endpoint") && !httpsURL(k) {
				bad = append(bad, k)
			}
		}
		m.check("C71", len(bad) == 0, "not https: %v", bad)
		ccm := strs(d["code_challenge_methods_supported"])
		m.check("C72", len(ccm) == 0 || has(ccm, "S256") || has(ccm, "plain"), "%v", ccm)
	},
}

// knownMetadata are the members of the suite's RFC 8414 + OpenID schema
// (and the registered extensions it knows).
var knownMetadata = []string{"issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "registration_endpoint",
	"scopes_supported", "response_types_supported", "response_modes_supported", "grant_types_supported", "acr_values_supported",
	"subject_types_supported", "id_token_signing_alg_values_supported", "id_token_encryption_alg_values_supported",
	"id_token_encryption_enc_values_supported", "userinfo_signing_alg_values_supported", "userinfo_encryption_alg_values_supported",
	"userinfo_encryption_enc_values_supported", "request_object_signing_alg_values_supported", "request_object_encryption_alg_values_supported",
	"request_object_encryption_enc_values_supported", "token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported",
	"display_values_supported", "claim_types_supported", "claims_supported", "service_documentation", "claims_locales_supported",
	"ui_locales_supported", "claims_parameter_supported", "request_parameter_supported", "request_uri_parameter_supported",
	"require_request_uri_registration", "op_policy_uri", "op_tos_uri", "revocation_endpoint", "revocation_endpoint_auth_methods_supported",
	"revocation_endpoint_auth_signing_alg_values_supported", "introspection_endpoint", "introspection_endpoint_auth_methods_supported",
	"introspection_endpoint_auth_signing_alg_values_supported", "code_challenge_methods_supported", "end_session_endpoint",
	"check_session_iframe", "frontchannel_logout_supported", "frontchannel_logout_session_supported", "backchannel_logout_supported",
	"backchannel_logout_session_supported", "pushed_authorization_request_endpoint", "require_pushed_authorization_requests",
	"authorization_response_iss_parameter_supported", "prompt_values_supported", "mtls_endpoint_aliases",
	"tls_client_certificate_bound_access_tokens", "dpop_signing_alg_values_supported", "signed_metadata",
	"require_signed_request_object", "device_authorization_endpoint", "backchannel_authentication_endpoint"}

// metadataTypes applies C54: URLs and names as strings, lists as arrays
// of strings, flags as booleans.
func metadataTypes(d map[string]any) string {
	for k, v := range d {
		switch {
		case strings.HasSuffix(k, "_supported") && (strings.HasSuffix(k, "_values_supported") || strings.HasSuffix(k, "s_supported")) && !isFlag(k):
			l, ok := v.([]any)
			if !ok {
				return k + " is not an array"
			}
			for _, e := range l {
				if _, ok := e.(string); !ok {
					return k + " holds a non-string"
				}
			}
		case isFlag(k):
			if _, ok := v.(bool); !ok {
				return k + " is not a boolean"
			}
		case strings.HasSuffix(k, "_endpoint") || strings.HasSuffix(k, "_uri") || k == "issuer":
			if _, ok := v.(string); !ok {
				return k + " is not a string"
			}
		}
	}
	return ""
}

func isFlag(k string) bool {
	return strings.HasSuffix(k, "_parameter_supported") || strings.HasSuffix(k, "logout_supported") || strings.HasSuffix(k, "session_supported") ||
		strings.HasPrefix(k, "require_") || k == "tls_client_certificate_bound_access_tokens"
}

func localesOK(d map[string]any) bool {
	for _, k := range []string{"ui_locales_supported", "claims_locales_supported"} {
		for _, l := range strs(d[k]) {
			if !regexpLocale.MatchString(l) {
				return false
			}
		}
	}
	return true
}

// jwksProblems applies C3–C9 to a key set; "" when it is sound.
func jwksProblems(set map[string]any) string {
	keys, ok := set["keys"].([]any)
	if !ok || len(keys) == 0 {
		return "no keys array"
	}
	seen := map[string]bool{}
	for _, k := range keys {
		key, _ := k.(map[string]any)
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if key[private] != nil {
				return "private member " + private
			}
		}
		kid, _ := key["kid"].(string)
		if kid == "" || seen[kid] {
			return "missing or repeated kid " + kid
		}
		seen[kid] = true
		var need []string
		switch key["kty"] {
		case "RSA":
			need = []string{"n", "e"}
		case "EC":
			need = []string{"x", "y", "crv"}
		case "OKP":
			need = []string{"x", "crv"}
		default:
			return "kty " + key["kty"].(string)
		}
		for _, f := range need {
			s, _ := key[f].(string)
			if s == "" || strings.ContainsAny(s, "=+/") {
				return kid + ": member " + f + " is not unpadded base64url"
			}
			if _, err := base64.RawURLEncoding.DecodeString(s); err != nil && f != "crv" {
				return kid + ": member " + f + " does not decode"
			}
		}
	}
	return ""
}

// setupChecks are C1–C10, run by every login module (section A, setup).
func (m *oidfModule) setupChecks(c oidfClient) {
	m.t.Helper()
	d := m.disc
	m.check("C1", d != nil, "discovery")
	m.check("C2", m.endpoint("issuer") != "" && m.endpoint("authorization_endpoint") != "" && m.endpoint("token_endpoint") != "", "endpoints")
	jwks := m.getJSON(m.t, m.endpoint("jwks_uri"))
	m.check("C3", jwks["keys"] != nil, "jwks %v", jwks)
	p := jwksProblems(jwks)
	m.check("C4", p == "", "%s", p)
	m.check("C5", !strings.Contains(p, "private"), "%s", p)
	m.check("C6", p == "", "%s", p)
	m.warn("C7", p == "", p)
	m.check("C8", !strings.Contains(p, "kid"), "%s", p)
	m.check("C9", !strings.Contains(p, "repeated"), "%s", p)
	methods := strs(d["token_endpoint_auth_methods_supported"])
	m.check("C10", d["token_endpoint_auth_methods_supported"] == nil && c.method == "client_secret_basic" || has(methods, c.method), "%v lacks %s", methods, c.method)
}

// happy is a whole happy-path module: setup, login, the common checks.
func (m *oidfModule) happy(c oidfClient, set url.Values, drop ...string) login {
	m.t.Helper()
	m.setupChecks(c)
	return m.login(m.browser(), c, set, drop...)
}

// scopeModule is oidcc-scope-*: userinfo holds every claim of the scopes.
func scopeModule(id string, scope string, want []string) func(m *oidfModule) {
	return func(m *oidfModule) {
		if !m.check(id, has(strs(m.disc["scopes_supported"]), strings.Fields(scope)[1]), "scopes_supported lacks %s", scope) {
			return
		}
		l := m.happy(m.basic, url.Values{"scope": {scope}})
		ui := m.userinfo(l)
		var missing []string
		for _, c := range want {
			if ui[c] == nil {
				missing = append(missing, c)
			}
		}
		m.warn(id, len(missing) == 0, "userinfo lacks "+strings.Join(missing, ", "))
	}
}

var profileClaims = []string{"name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website", "gender",
	"birthdate", "zoneinfo", "locale", "updated_at", "preferred_username"}

// oidfBasicModules is oidcc-basic-certification-test-plan (section C),
// static client, plus its dynamic-only modules.
var oidfBasicModules = map[string]func(m *oidfModule){
	"oidcc-server": func(m *oidfModule) {
		l := m.happy(m.basic, nil)
		code := l.cb.Get("code")
		m.check("C74", len(code) >= 22, "code %d characters", len(code)) // 16 bytes base64url
		m.check("C75", entropyBits(code) > 96, "code entropy %.0f bits", entropyBits(code))
		m.warn("C76", l.token["expires_in"] != nil, "no expires_in")
		if h, ok := l.idToken["at_hash"].(string); ok {
			m.check("C77", h == hashHalf(l.token["access_token"].(string)), "at_hash %s", h)
		} else {
			oidf.record("C77", m.name, true, "")
		}
		m.warn("C78", l.idToken["name"] == nil, "the ID token holds name")
		allowed := append(slices.Clone(nonIdentity), "sid")
		var extra []string
		for k := range l.idToken {
			if !slices.Contains(allowed, k) {
				extra = append(extra, k)
			}
		}
		m.warn("C79", len(extra) == 0, "claims not requested: "+strings.Join(extra, ", "))
		m.check("C73", !m.t.Failed(), "a check of section A failed")
	},
	"oidcc-response-type-missing": func(m *oidfModule) {
		m.setupChecks(m.basic)
		r := m.newRequest(m.basic, nil, "response_type")
		p, _ := m.send(m.browser(), r, false)
		if errorPage(p) {
			m.check("C80", true, "")
			return
		}
		e := m.errorRedirect(p, r.state)
		m.check("C80", e == "unsupported_response_type" || e == "invalid_request", "error %q", e)
	},
	"oidcc-userinfo-get": func(m *oidfModule) { m.happy(m.basic, url.Values{"scope": {"openid email"}}) },
	"oidcc-userinfo-post-header": func(m *oidfModule) {
		l := m.happy(m.basic, nil)
		st, claims, hdr := m.callUserinfo(http.MethodPost, l.token["access_token"].(string), false)
		m.userinfoChecks("C88", "C88", "C88", "C88", st, claims, hdr, l)
	},
	"oidcc-userinfo-post-body": func(m *oidfModule) {
		l := m.happy(m.basic, nil)
		st, claims, hdr := m.callUserinfo(http.MethodPost, l.token["access_token"].(string), true)
		m.warn("C89", st/100 == 2, "access token in the body not supported")
		if st/100 == 2 {
			m.userinfoChecks("C89", "C89", "C89", "C89", st, claims, hdr, l)
		}
	},
	"oidcc-ensure-request-without-nonce-succeeds-for-code-flow": func(m *oidfModule) {
		m.setupChecks(m.basic)
		r := m.newRequest(m.basic, nil, "nonce")
		p, _ := m.send(m.browser(), r, false)
		cb := m.callback(p)
		m.check("C90", cb.Get("code") != "" && cb.Get("state") == r.state, "callback %v", cb)
		l := m.redeem(m.basic, cb.Get("code"), "", nil)
		m.userinfo(l)
	},
	"oidcc-scope-profile": scopeModule("C91", "openid profile", profileClaims),
	"oidcc-scope-email":   scopeModule("C92", "openid email", []string{"email", "email_verified"}),
	"oidcc-scope-address": scopeModule("C93", "openid address", []string{"address"}),
	"oidcc-scope-phone":   scopeModule("C94", "openid phone", []string{"phone_number", "phone_number_verified"}),
	"oidcc-scope-all": scopeModule("C95", "openid email phone address profile",
		append([]string{"email", "email_verified", "address", "phone_number", "phone_number_verified"}, profileClaims...)),
	"oidcc-alternate-happy-flow": func(m *oidfModule) {
		m.setupChecks(m.basic)
		r := m.newRequest(m.basic, url.Values{"scope": {"email openid"}})
		// Parameters in reverse alphabetical order.
		keys := make([]string, 0, len(r.params))
		for k := range r.params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Reverse(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = url.QueryEscape(k) + "=" + url.QueryEscape(r.params.Get(k))
		}
		br := m.browser()
		p := br.follow(br.get(m.endpoint("authorization_endpoint") + "?" + strings.Join(parts, "&")))
		if strings.Contains(p.body, `action="/login"`) {
			p = br.login(p, m.user)
		}
		if strings.Contains(p.body, `action="/consent"`) {
			p = br.approve(p)
		}
		cb := m.callback(p)
		m.check("C96", cb.Get("code") != "" && cb.Get("state") == r.state, "callback %v", cb)
		ui := m.userinfo(m.redeem(m.basic, cb.Get("code"), r.nonce, nil))
		m.warn("C96", ui["email"] != nil && ui["email_verified"] != nil, "userinfo lacks email")
	},
	"oidcc-display-page": func(m *oidfModule) {
		m.check("C97", m.happy(m.basic, url.Values{"display": {"page"}}).cb.Get("code") != "", "")
	},
	"oidcc-display-popup": func(m *oidfModule) {
		m.check("C98", m.happy(m.basic, url.Values{"display": {"popup"}}).cb.Get("code") != "", "")
	},
	"oidcc-prompt-login": func(m *oidfModule) {
		m.setupChecks(m.basic)
		br := m.browser()
		first := m.login(br, m.basic, nil)
		time.Sleep(time.Second + 100*time.Millisecond)
		second := m.login(br, m.basic, url.Values{"prompt": {"login"}})
		m.check("C99", second.loggedIn && authTimeOf(second) > authTimeOf(first), "asked again: %v, auth_time %v then %v", second.loggedIn, authTimeOf(first), authTimeOf(second))
	},
	"oidcc-prompt-none-not-logged-in": func(m *oidfModule) {
		m.setupChecks(m.basic)
		state := alnum(124) + "-._~"
		r := m.newRequest(m.basic, url.Values{"prompt": {"none"}, "state": {state}})
		p, _ := m.send(m.browser(), r, false)
		e := m.errorRedirect(p, state)
		m.check("C100", slices.Contains([]string{"login_required", "interaction_required", "account_selection_required", "consent_required"}, e), "error %q", e)
	},
	"oidcc-prompt-none-logged-in": func(m *oidfModule) {
		m.setupChecks(m.basic)
		br := m.browser()
		first := m.login(br, m.basic, nil)
		second := m.login(br, m.basic, url.Values{"prompt": {"none"}})
		m.check("C101", !second.loggedIn && authTimeOf(second) == authTimeOf(first) && second.idToken["sub"] == first.idToken["sub"], "second login %v", second.idToken)
	},
	"oidcc-max-age-1": func(m *oidfModule) {
		m.setupChecks(m.basic)
		br := m.browser()
		first := m.login(br, m.basic, nil)
		time.Sleep(2 * time.Second)
		second := m.login(br, m.basic, url.Values{"max_age": {"1"}})
		at := authTimeOf(second)
		m.check("C102", second.loggedIn && at > authTimeOf(first) && at >= time.Now().Add(-5*time.Minute-time.Second).Unix(), "asked again %v, auth_time %d then %d", second.loggedIn, authTimeOf(first), at)
	},
	"oidcc-max-age-10000": func(m *oidfModule) {
		m.setupChecks(m.basic)
		br := m.browser()
		first := m.login(br, m.basic, url.Values{"max_age": {"15000"}})
		second := m.login(br, m.basic, url.Values{"max_age": {"10000"}})
		m.check("C103", authTimeOf(first) > 0 && !second.loggedIn && authTimeOf(second) == authTimeOf(first) && second.idToken["sub"] == first.idToken["sub"],
			"auth_time %d then %d, asked again %v", authTimeOf(first), authTimeOf(second), second.loggedIn)
	},
	"oidcc-ensure-request-with-unknown-parameter-succeeds": func(m *oidfModule) {
		m.check("C104", m.happy(m.basic, url.Values{"extra": {"foobar"}}).cb.Get("code") != "", "")
	},
	"oidcc-id-token-hint": func(m *oidfModule) {
		m.setupChecks(m.basic)
		br := m.browser()
		first := m.login(br, m.basic, nil)
		second := m.login(br, m.basic, url.Values{"prompt": {"none"}, "id_token_hint": {first.raw}})
		m.check("C105", !second.loggedIn && second.idToken["sub"] == first.idToken["sub"] && authTimeOf(second) == authTimeOf(first), "second login %v", second.idToken)
	},
	"oidcc-login-hint": func(m *oidfModule) {
		host, _ := url.Parse(m.disc["issuer"].(string))
		m.check("C106", m.happy(m.basic, url.Values{"login_hint": {"buffy@" + host.Hostname()}}).cb.Get("code") != "", "")
	},
	"oidcc-ui-locales": func(m *oidfModule) {
		m.check("C107", m.happy(m.basic, url.Values{"ui_locales": {"se"}}).cb.Get("code") != "", "")
	},
	"oidcc-claims-locales": func(m *oidfModule) {
		m.check("C108", m.happy(m.basic, url.Values{"claims_locales": {"se"}}).cb.Get("code") != "", "")
	},
	"oidcc-ensure-request-with-acr-values-succeeds": func(m *oidfModule) {
		acrs := strs(m.disc["acr_values_supported"])
		l := m.happy(m.basic, url.Values{"acr_values": {strings.Join(acrs, " ")}})
		m.check("C109", l.cb.Get("code") != "", "")
		acr, _ := l.idToken["acr"].(string)
		m.warn("C110", has(acrs, acr), "acr "+acr+" is not one of the requested values")
	},
	"oidcc-codereuse": func(m *oidfModule) {
		l := m.happy(m.basic, nil)
		st, body, hdr := m.tokenRequest(m.basic, url.Values{"grant_type": {"authorization_code"}, "code": {l.cb.Get("code")}, "redirect_uri": {oidfCallback}})
		if st == 200 {
			m.warn("C111", false, "the code was accepted twice")
			return
		}
		m.check("C111", m.tokenError(st, body, hdr, false) == "invalid_grant", "%d %v", st, body)
	},
	"oidcc-codereuse-30seconds": func(m *oidfModule) {
		l := m.happy(m.basic, nil)
		time.Sleep(30 * time.Second)
		st, body, hdr := m.tokenRequest(m.basic, url.Values{"grant_type": {"authorization_code"}, "code": {l.cb.Get("code")}, "redirect_uri": {oidfCallback}})
		m.check("C112", m.tokenError(st, body, hdr, false) == "invalid_grant", "%d %v", st, body)
		st, _, _ = m.callUserinfo(http.MethodGet, l.token["access_token"].(string), false)
		m.warn("C113", st/100 == 4, "the first access token still works after the code was reused")
	},
	"oidcc-ensure-registered-redirect-uri": func(m *oidfModule) {
		m.setupChecks(m.basic)
		r := m.newRequest(m.basic, url.Values{"redirect_uri": {oidfCallback + "/" + alnum(10)}})
		p, _ := m.send(m.browser(), r, false)
		m.check("C114", errorPage(p), "want an error page, got %d %q", p.status, p.location)
	},
	"oidcc-ensure-post-request-succeeds": func(m *oidfModule) {
		m.setupChecks(m.basic)
		l := m.loginWith(m.browser(), m.basic, m.newRequest(m.basic, nil), true)
		m.check("C115", l.cb.Get("code") != "", "")
	},
	"oidcc-server-client-secret-post": func(m *oidfModule) {
		l := m.happy(m.post, nil)
		m.check("C116", l.cb.Get("code") != "" && has(strs(m.disc["token_endpoint_auth_methods_supported"]), "client_secret_post"), "")
	},
	"oidcc-claims-essential": func(m *oidfModule) {
		l := m.happy(m.basic, url.Values{"claims": {`{"userinfo":{"name":{"essential":true}}}`}})
		ui := m.userinfo(l)
		m.check("C119", l.cb.Get("code") != "", "")
		m.warn("C119", ui["name"] != nil && l.idToken["name"] == nil, "userinfo lacks name, or the ID token holds it")
	},
	"oidcc-refresh-token": func(m *oidfModule) {
		set := url.Values{"scope": {"openid offline_access"}, "prompt": {"consent"}}
		l := m.happy(m.basic, set)
		rt, _ := l.token["refresh_token"].(string)
		if !m.check("C121", rt != "" && has(strs(m.disc["grant_types_supported"]), "refresh_token") &&
			!strings.ContainsFunc(rt, func(r rune) bool { return r < 0x20 || r > 0x7e }), "refresh token %q", rt) {
			return
		}
		time.Sleep(time.Second)
		st, body, hdr := m.tokenRequest(m.basic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid offline_access"}})
		at, _ := body["access_token"].(string)
		tt, _ := body["token_type"].(string)
		m.check("C122", st == 200 && strings.Contains(hdr.Get("Cache-Control"), "no-store") && strings.EqualFold(tt, "bearer") &&
			entropyBits(at) > 96 && body["expires_in"] != nil, "refresh %d %v %q", st, body, hdr.Get("Cache-Control"))
		if raw, ok := body["id_token"].(string); ok {
			_, c2, err := parseJWT(raw)
			c1 := l.idToken
			m.check("C123", err == nil && c2["iss"] == c1["iss"] && c2["sub"] == c1["sub"] && c2["auth_time"] == c1["auth_time"] &&
				(c2["azp"] == nil) == (c1["azp"] == nil) && c2["iat"] != c1["iat"], "refreshed ID token %v, first %v", c2, c1)
		} else {
			oidf.record("C123", m.name, true, "")
		}
		st, _, _ = m.callUserinfo(http.MethodGet, at, false)
		m.check("C124", st == 200, "userinfo with the refreshed token: %d", st)
		// The second client's refresh token, presented by the first.
		other := m.login(m.browser(), m.refresh, set)
		st, body, hdr = m.tokenRequest(m.basic, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {other.token["refresh_token"].(string)}})
		m.check("C125", m.tokenError(st, body, hdr, false) == "invalid_grant", "%d %v", st, body)
	},
	"oidcc-ensure-request-with-valid-pkce-succeeds": func(m *oidfModule) {
		m.setupChecks(m.basic)
		verifier := alnum(100) + "-._~" + alnum(24)
		r := m.newRequest(m.basic, url.Values{"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}})
		p, _ := m.send(m.browser(), r, false)
		cb := m.callback(p)
		l := m.redeem(m.basic, cb.Get("code"), r.nonce, url.Values{"code_verifier": {verifier}})
		m.check("C126", l.token["access_token"] != nil, "")
	},
	// Dynamic-only modules of the basic plan: a client registered by the
	// suite (C11–C14).
	"oidcc-idtoken-signature": func(m *oidfModule) {
		c := m.register(nil)
		l := m.happy(c, nil)
		m.check("C81", l.idHeader["kid"] != nil && l.idHeader["kid"] != "", "header %v", l.idHeader)
		m.check("C82", l.idHeader["alg"] == "RS256", "alg %v", l.idHeader["alg"])
	},
	// Not a suite module: C33 runs only when acr is an essential claim,
	// which no module of these plans asks.
	"x-acr-essential-claim": func(m *oidfModule) {
		acrs := strs(m.disc["acr_values_supported"])
		l := m.happy(m.basic, url.Values{"claims": {`{"id_token":{"acr":{"essential":true,"values":["` + strings.Join(acrs, `","`) + `"]}}}`}})
		acr, _ := l.idToken["acr"].(string)
		m.check("C33", has(acrs, acr), "acr %q", acr)
	},
}

// register is the suite's dynamic registration (C11–C13) and, at the end
// of the module, its deletion (C14).
func (m *oidfModule) register(extra map[string]any) oidfClient {
	m.t.Helper()
	body := map[string]any{"client_name": "OIDF " + m.name, "grant_types": []string{"authorization_code"}, "token_endpoint_auth_method": "client_secret_basic",
		"response_types": []string{"code"}, "redirect_uris": []string{oidfCallback}, "contacts": []string{"certification@oidf.org"},
		"jwks": map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "suite", "alg": "RS256", "use": "sig",
			"n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
			"e": "AQAB"}}}}
	for k, v := range extra {
		body[k] = v
	}
	if m.endpoint("registration_endpoint") == "" {
		m.t.Fatal("no registration_endpoint")
	}
	req, _ := newJSONRequest(http.MethodPost, m.endpoint("registration_endpoint"), body)
	resp, err := m.hc.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	reg := map[string]any{}
	_ = decodeJSON(resp.Body, &reg)
	if !m.check("C11", resp.StatusCode == 201 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && reg["error"] == nil, "register: %d %v", resp.StatusCode, reg) {
		m.t.FailNow()
	}
	uri, _ := reg["registration_client_uri"].(string)
	rat, _ := reg["registration_access_token"].(string)
	m.check("C12", (uri == "") == (rat == "") && (uri == "" || strings.HasPrefix(uri, "https://")), "registration_client_uri %q", uri)
	m.check("C13", reg["client_secret"] == nil || reg["client_secret_expires_at"] != nil, "client_secret_expires_at missing")
	m.t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, uri, nil)
		req.Header.Set("Authorization", "Bearer "+rat)
		resp, err := m.hc.Do(req)
		if err != nil {
			m.t.Error(err)
			return
		}
		resp.Body.Close()
		m.warn("C14", resp.StatusCode == 204, "delete answered "+resp.Status)
	})
	return oidfClient{id: reg["client_id"].(string), secret: reg["client_secret"].(string), method: "client_secret_basic"}
}

// oidfLogoutModules is oidcc-rp-initiated-logout-certification-test-plan
// (section E).
var oidfLogoutModules = map[string]func(m *oidfModule){
	"oidcc-rp-initiated-logout-discovery-endpoint-verification": func(m *oidfModule) {
		bad := []string{}
		for k, v := range m.disc {
			if s, _ := v.(string); strings.HasSuffix(k, "_endpoint") && !strings.HasPrefix(s, "https://") {
				bad = append(bad, k)
			}
		}
		m.check("C156", len(bad) == 0, "not https: %v", bad)
		m.check("C157", strings.HasPrefix(m.endpoint("end_session_endpoint"), "https://"), "%v", m.disc["end_session_endpoint"])
	},
	"oidcc-rp-initiated-logout": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "post_logout_redirect_uri": {m.logoutTarget}, "state": {state}})
		u, _ := url.Parse(p.location)
		ok := p.status/100 == 3 && strings.HasPrefix(p.location, m.logoutTarget) && u.Query().Get("state") == state
		m.check("C159", ok, "logout redirect %d %q", p.status, p.location)
		m.warn("C160", ok && len(u.Query()) == 1, "other parameters in "+p.location)
		m.loggedOut("C161", br)
		// The dynamic variant registers post_logout_redirect_uris.
		m.register(map[string]any{"post_logout_redirect_uris": []string{m.logoutTarget}})
		m.check("C158", true, "")
	},
	"oidcc-rp-initiated-logout-bad-post-logout-redirect-uri": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "post_logout_redirect_uri": {"https://rp.example.test/bad_post_logout_redirect_uri"}, "state": {state}})
		m.check("C162", p.location == "" && p.status/100 != 3, "redirected: %d %q", p.status, p.location)
	},
	"oidcc-rp-initiated-logout-modified-id-token-hint": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		parts := strings.Split(l.raw, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
		p := m.endSession(br, url.Values{"id_token_hint": {none}, "post_logout_redirect_uri": {m.logoutTarget}, "state": {state}})
		m.check("C163", p.location == "" && p.status/100 != 3, "redirected: %d %q", p.status, p.location)
	},
	"oidcc-rp-initiated-logout-no-id-token-hint": func(m *oidfModule) {
		br, _, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"post_logout_redirect_uri": {m.logoutTarget}, "state": {state}})
		m.check("C164", p.location == "" && p.status/100 != 3, "redirected: %d %q", p.status, p.location)
	},
	"oidcc-rp-initiated-logout-no-params": func(m *oidfModule) {
		br, _, _ := m.logoutSetup()
		// Without a hint the OP asks; the suite's tester confirms (the
		// screenshot then shows the signed-out page).
		p := m.confirmLogout(br, m.endSession(br, url.Values{}))
		m.check("C165", p.status == 200 && p.location == "" && strings.Contains(p.body, `id="signed-out"`), "%d %q", p.status, p.location)
		m.loggedOut("C165", br)
	},
	"oidcc-rp-initiated-logout-no-post-logout-redirect-uri": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "state": {state}})
		m.check("C166", p.status == 200 && p.location == "", "%d %q", p.status, p.location)
		m.loggedOut("C166", br)
	},
	"oidcc-rp-initiated-logout-no-state": func(m *oidfModule) {
		br, l, _ := m.logoutSetup()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "post_logout_redirect_uri": {m.logoutTarget}})
		u, _ := url.Parse(p.location)
		m.check("C167", p.status/100 == 3 && strings.HasPrefix(p.location, m.logoutTarget) && !u.Query().Has("state"), "%d %q", p.status, p.location)
		m.warn("C167", len(u.Query()) == 0, "other parameters in "+p.location)
		m.loggedOut("C167", br)
	},
	"oidcc-rp-initiated-logout-only-state": func(m *oidfModule) {
		br, _, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"state": {state}})
		m.check("C168", p.status == 200 && p.location == "", "%d %q", p.status, p.location)
	},
	"oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "post_logout_redirect_uri": {m.logoutTarget + "?foo=bar"}, "state": {state}})
		m.check("C169", p.location == "" && p.status/100 != 3, "redirected: %d %q", p.status, p.location)
	},
	"oidcc-rp-initiated-logout-bad-id-token-hint": func(m *oidfModule) {
		br, l, state := m.logoutSetup()
		fake := hs256(m.basic.secret, map[string]any{"iss": m.basic.id, "aud": m.disc["issuer"], "sub": l.idToken["sub"], "nonce": "flibble",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		p := m.endSession(br, url.Values{"id_token_hint": {fake}, "post_logout_redirect_uri": {m.logoutTarget}, "state": {state}})
		m.check("C170", p.location == "" && p.status/100 != 3, "redirected: %d %q", p.status, p.location)
	},
}

// logoutState is the suite's 90-character logout state: letters, digits
// and RFC 6749 VSCHAR punctuation (no space, '+' or ';').
func logoutState() string {
	return alnum(60) + `!"#$%&'()*,-./:<=>?@[\]^_` + "`{|}~"
}

// logoutSetup signs the user in (section A, 128-character state) and
// returns the browser, the login and a logout state.
func (m *oidfModule) logoutSetup() (*browser, login, string) {
	m.t.Helper()
	m.setupChecks(m.basic)
	br := m.browser()
	l := m.login(br, m.basic, url.Values{"state": {alnum(124) + "-._~"}})
	return br, l, logoutState()
}

func (m *oidfModule) endSession(br *browser, q url.Values) page {
	m.t.Helper()
	return br.get(m.endpoint("end_session_endpoint") + "?" + q.Encode())
}

// confirmLogout presses "Sign out" on a logout confirmation page p, as the
// suite's tester does; any other page is returned as it is.
func (m *oidfModule) confirmLogout(br *browser, p page) page {
	m.t.Helper()
	if !strings.Contains(p.body, `id="confirm-logout"`) {
		return p
	}
	return br.submit(findForm(m.t, p, "/oauth2/logout"), nil)
}

// loggedOut asks again with prompt=none: the session must be gone.
func (m *oidfModule) loggedOut(id string, br *browser) {
	m.t.Helper()
	r := m.newRequest(m.basic, url.Values{"prompt": {"none"}})
	p, _ := m.send(br, r, false)
	e := m.errorRedirect(p, r.state)
	m.check(id, slices.Contains([]string{"login_required", "interaction_required", "account_selection_required", "consent_required"}, e), "after logout: %q", e)
}

func authTimeOf(l login) int64 {
	v, _ := l.idToken["auth_time"].(float64)
	return int64(v)
}

// oidfBackchannelModules is
// oidcc-backchannel-rp-initiated-logout-certification-test-plan (section
// F): the suite's client registers an https back-channel logout endpoint
// with backchannel_logout_session_required, signs in, logs out with a
// hint, and validates the logout token it receives and the redirect.
var oidfBackchannelModules = map[string]func(m *oidfModule){
	"oidcc-backchannel-logout-discovery-endpoint-verification": func(m *oidfModule) {
		bad := []string{}
		for k, v := range m.disc {
			if s, _ := v.(string); strings.HasSuffix(k, "_endpoint") && !strings.HasPrefix(s, "https://") {
				bad = append(bad, k)
			}
		}
		m.check("C171", len(bad) == 0, "not https: %v", bad)
		m.check("C172", m.disc["backchannel_logout_supported"] == true, "%v", m.disc["backchannel_logout_supported"])
		m.check("C173", m.disc["backchannel_logout_session_supported"] == true, "%v", m.disc["backchannel_logout_session_supported"])
		m.check("C174", strings.HasPrefix(m.endpoint("end_session_endpoint"), "https://"), "%v", m.disc["end_session_endpoint"])
	},
	"oidcc-backchannel-rp-initiated-logout": func(m *oidfModule) {
		path := "/backchannel_logout/" + alnum(8)
		c := m.register(map[string]any{"backchannel_logout_uri": m.bcl.url + path, "backchannel_logout_session_required": true,
			"post_logout_redirect_uris": []string{m.logoutTarget}})
		m.check("C175", true, "")
		m.setupChecks(c)
		br := m.browser()
		l := m.login(br, c, url.Values{"state": {alnum(124) + "-._~"}})
		state := logoutState()
		p := m.endSession(br, url.Values{"id_token_hint": {l.raw}, "post_logout_redirect_uri": {m.logoutTarget}, "state": {state}})
		u, _ := url.Parse(p.location)
		ok := p.status/100 == 3 && strings.HasPrefix(p.location, m.logoutTarget) && u.Query().Get("state") == state
		m.check("C183", ok, "logout redirect %d %q", p.status, p.location)
		m.warn("C183", ok && len(u.Query()) == 1, "other parameters in "+p.location)

		post, got := m.bcl.wait(m.t, path, 30*time.Second)
		if !m.check("C177", got && strings.HasPrefix(post.contentType, "application/x-www-form-urlencoded") && post.form.Get("logout_token") != "",
			"back-channel request %v: %q %v", got, post.contentType, post.form) {
			m.t.FailNow()
		}
		m.warn("C176", post.tlsVersion == tls.VersionTLS13 || post.tlsVersion == tls.VersionTLS12 && slices.ContainsFunc(tls.CipherSuites(), func(s *tls.CipherSuite) bool { return s.ID == post.cipher }),
			"TLS "+tls.VersionName(post.tlsVersion)+" "+tls.CipherSuiteName(post.cipher))
		m.warn("C176", post.tlsVersion == tls.VersionTLS13, "not TLS 1.3: "+tls.VersionName(post.tlsVersion))
		m.warn("C178", len(post.form) == 1, fmt.Sprintf("other parameters: %v", post.form))
		raw := post.form.Get("logout_token")
		jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA})
		if !m.check("C177", err == nil && len(jws.Signatures) == 1, "logout token: %v", err) {
			m.t.FailNow()
		}
		var set jose.JSONWebKeySet
		b, _ := json.Marshal(m.getJSON(m.t, m.endpoint("jwks_uri")))
		_ = json.Unmarshal(b, &set)
		kid := jws.Signatures[0].Protected.KeyID
		var payload []byte
		if keys := set.Key(kid); len(keys) == 1 {
			payload, err = jws.Verify(keys[0])
		} else {
			err = fmt.Errorf("kid %q matches %d keys of the JWKS", kid, len(keys))
		}
		if !m.check("C179", err == nil, "signature: %v", err) {
			m.t.FailNow()
		}
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		iat, _ := claims["iat"].(float64)
		now := float64(time.Now().Unix())
		events, _ := claims["events"].(map[string]any)
		ev, isObj := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any)
		m.check("C180", claims["iss"] == m.disc["issuer"] && audHas(claims["aud"], c.id) && iat > 0 && iat <= now+300 && iat >= now-86400 &&
			claims["jti"] != nil && claims["jti"] != "" && len(events) == 1 && isObj && len(ev) == 0, "claims %v", claims)
		m.check("C181", (claims["sub"] != nil || claims["sid"] != nil) && (claims["sub"] == nil || claims["sub"] == l.idToken["sub"]) &&
			(claims["sid"] == nil || l.idToken["sid"] != nil && claims["sid"] == l.idToken["sid"]), "sub %v sid %v, ID token %v %v", claims["sub"], claims["sid"], l.idToken["sub"], l.idToken["sid"])
		_, hasNonce := claims["nonce"]
		m.check("C182", !hasNonce, "nonce %v", claims["nonce"])

		// prompt=none after the logout: the session is gone.
		r := m.newRequest(c, url.Values{"prompt": {"none"}})
		after, _ := m.send(br, r, false)
		e := m.errorRedirect(after, r.state)
		m.check("C184", slices.Contains([]string{"login_required", "interaction_required", "account_selection_required", "consent_required"}, e), "after logout: %q", e)
	},
}

// audHas says whether a JWT's aud is id or a list holding it.
func audHas(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		return slices.Contains(a, any(id))
	}
	return false
}
