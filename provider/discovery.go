package provider

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
)

// Metadata is the OpenID Provider / RFC 8414 metadata document. Every
// advertised value is one gatehouse serves.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	UserinfoSigningAlgValuesSupported          []string `json:"userinfo_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	FrontchannelLogoutSupported                bool     `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported         bool     `json:"frontchannel_logout_session_supported"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported"`
}

// Metadata returns the discovery document.
func (p *Provider) Metadata() Metadata {
	i := p.issuer
	reg := ""
	if p.registrar != nil {
		reg = i + PathRegister
	}
	return Metadata{
		RegistrationEndpoint:                       reg,
		Issuer:                                     i,
		AuthorizationEndpoint:                      i + PathAuthorize,
		TokenEndpoint:                              i + PathToken,
		UserinfoEndpoint:                           i + PathUserinfo,
		JWKSURI:                                    i + PathJWKS,
		EndSessionEndpoint:                         i + PathLogout,
		IntrospectionEndpoint:                      i + PathIntrospect,
		RevocationEndpoint:                         i + PathRevoke,
		PushedAuthorizationRequestEndpoint:         i + PathPAR,
		ScopesSupported:                            []string{"openid", "profile", "email", "address", "phone", "offline_access"},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "fragment", "form_post"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		SubjectTypesSupported:                      []string{clientspec.SubjectPublic, clientspec.SubjectPairwise},
		IDTokenSigningAlgValuesSupported:           p.keys.Algs(),
		UserinfoSigningAlgValuesSupported:          p.keys.Algs(),
		TokenEndpointAuthMethodsSupported:          []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		TokenEndpointAuthSigningAlgValuesSupported: []string{"RS256", "ES256", "PS256"},
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		RevocationEndpointAuthMethodsSupported:     []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
			"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "gender", "birthdate",
			"zoneinfo", "locale", "updated_at", "email", "email_verified", "address", "phone_number", "phone_number_verified"},
		ACRValuesSupported:                         []string{ACRSingleFactor, ACRMultiFactor},
		PromptValuesSupported:                      []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseIssParameterSupported: true,
		ClaimsParameterSupported:                   true,
		RequestParameterSupported:                  true,
		RequestURIParameterSupported:               true,
		RequestObjectSigningAlgValuesSupported:     clientspec.RequestObjectAlgs,
		// Logout tokens carry sid as well as sub (session support).
		FrontchannelLogoutSupported:        true,
		FrontchannelLogoutSessionSupported: true,
		BackchannelLogoutSupported:         p.backchannel,
		BackchannelLogoutSessionSupported:  p.backchannel,
	}
}

// discovery serves /.well-known/openid-configuration.
func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(p.metadataJSON())
}

// metadataJSON is the discovery document encoded once: it follows from the
// configuration alone.
func (p *Provider) metadataJSON() []byte {
	p.metadataOnce.Do(func() {
		b, _ := json.Marshal(p.Metadata()) // strings and bools only: cannot fail
		p.metadataBody = append(b, '\n')
	})
	return p.metadataBody
}
