package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse-id/gatehouse/storage"
)

// session is the session kept with every grant and token: fosite's OpenID
// Connect session plus the claims the client asked the userinfo endpoint
// for with the `claims` parameter (OpenID Connect Core §5.5), decided when
// the code was issued.
type session struct {
	openid.DefaultSession
	UserinfoClaims []string `json:"userinfo_claims,omitempty"`
}

var _ openid.Session = (*session)(nil)

// Clone copies the session deeply; fosite clones it for a refresh.
func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := &session{UserinfoClaims: slices.Clone(s.UserinfoClaims)}
	if d, ok := s.DefaultSession.Clone().(*openid.DefaultSession); ok && d != nil {
		c.DefaultSession = *d
	}
	return c
}

// claimSpec is one member of a claims request: null, or an object that may
// say the claim is essential and which value(s) it must have.
type claimSpec struct {
	Essential bool              `json:"essential"`
	Value     json.RawMessage   `json:"value"`
	Values    []json.RawMessage `json:"values"`
}

// strings returns the requested string value(s), if any.
func (c *claimSpec) strings() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, raw := range append([]json.RawMessage{c.Value}, c.Values...) {
		var s string
		if len(raw) > 0 && json.Unmarshal(raw, &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// claimsRequest is the `claims` authorization request parameter: which
// individual claims go into the ID token and which the userinfo endpoint
// returns. A member whose value is null is requested without conditions.
type claimsRequest struct {
	Userinfo map[string]*claimSpec `json:"userinfo"`
	IDToken  map[string]*claimSpec `json:"id_token"`
}

// parseClaimsRequest reads the `claims` parameter; an empty one asks for
// nothing. Anything but a JSON object of objects is invalid_request.
func parseClaimsRequest(raw string) (claimsRequest, error) {
	var cr claimsRequest
	if raw == "" {
		return cr, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := d.Decode(&cr); err != nil || d.More() {
		return cr, fosite.ErrInvalidRequest.WithHint("The 'claims' parameter must be a JSON object (OpenID Connect Core §5.5).").WithWrap(fmt.Errorf("claims: %w", err))
	}
	return cr, nil
}

// claimScopes says which scope releases each standard claim a user has
// (OpenID Connect Core §5.4). A claim requested one by one is released only
// if the user consented to its scope, so `claims` never widens what a
// client learns beyond what the consent page showed.
var claimScopes = map[string]string{
	"name": "profile", "given_name": "profile", "family_name": "profile", "middle_name": "profile",
	"nickname": "profile", "preferred_username": "profile", "profile": "profile", "picture": "profile",
	"website": "profile", "gender": "profile", "birthdate": "profile", "zoneinfo": "profile",
	"locale": "profile", "updated_at": "profile",
	"email": "email", "email_verified": "email",
	"address":      "address",
	"phone_number": "phone", "phone_number_verified": "phone",
}

// impliedScopes are the scopes whose claims the request asks for one by
// one, in a stable order; the consent page asks for them like requested
// scopes.
func (cr claimsRequest) impliedScopes() []string {
	var out []string
	for _, m := range []map[string]*claimSpec{cr.IDToken, cr.Userinfo} {
		for name := range m {
			if s, ok := claimScopes[name]; ok && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// released lists the claims of m whose scope the user consented to,
// sorted.
func released(m map[string]*claimSpec, consented []string) []string {
	var out []string
	for name := range m {
		if s, ok := claimScopes[name]; ok && slices.Contains(consented, s) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// pick copies the user's named claims into dst (the full set is built only
// when a claim was asked for one by one).
func pick(dst map[string]any, u storage.User, names []string) {
	if len(names) == 0 {
		return
	}
	all := scopeClaims(u, allScopes)
	for _, n := range names {
		if v, ok := all[n]; ok {
			dst[n] = v
		}
	}
}

// allScopes releases every standard claim (scopeClaims' widest set).
var allScopes = fosite.Arguments{"profile", "email", "address", "phone"}
