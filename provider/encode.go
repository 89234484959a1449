package provider

import (
	"encoding/json"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// encodeStored writes a stored request as compact JSON by hand: every
// token the server issues is one of these, and encoding/json spent a tenth
// of a client_credentials request reflecting over it and writing the empty
// fields of a session that has no ID token (two thirds of each row). Empty
// and zero fields are left out, which json.Unmarshal reads as before (the
// prototype session's fields stay zero), so rows written either way decode
// alike. A session of another type than ours or openid.DefaultSession, and the
// free-form Extra maps, go through encoding/json.
func encodeStored(sr *storedRequest, sess fosite.Session) ([]byte, error) {
	var ds *openid.DefaultSession
	var userinfo []string
	switch s := sess.(type) {
	case *session:
		ds, userinfo = &s.DefaultSession, s.UserinfoClaims
	case *openid.DefaultSession:
		ds = s
	}
	if ds == nil {
		return json.Marshal(struct {
			*storedRequest
			Session fosite.Session `json:"session"`
		}{sr, sess})
	}
	e := jsonObject{b: make([]byte, 0, 384)}
	e.open()
	e.str("id", sr.ID)
	e.time("requested_at", sr.RequestedAt)
	e.str("client_id", sr.ClientID)
	e.strs("requested_scope", sr.RequestedScope)
	e.strs("granted_scope", sr.GrantedScope)
	if len(sr.Form) > 0 {
		e.key("form")
		e.open()
		keys := make([]string, 0, len(sr.Form))
		for k := range sr.Form {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e.key(k)
			e.array(sr.Form[k])
		}
		e.close()
	}
	e.strs("requested_audience", sr.RequestedAudience)
	e.strs("granted_audience", sr.GrantedAudience)
	if a := sr.Authorize; a != nil {
		e.key("authorize")
		e.open()
		e.strs("response_types", a.ResponseTypes)
		e.str("redirect_uri", a.RedirectURI)
		e.str("state", a.State)
		e.str("response_mode", a.ResponseMode)
		e.str("default_response_mode", a.DefaultResponseMode)
		e.close()
	}
	e.key("session")
	e.open()
	if c := ds.Claims; c != nil {
		e.key("id_token_claims")
		e.open()
		e.str("jti", c.JTI)
		e.str("iss", c.Issuer)
		e.str("sub", c.Subject)
		e.strs("aud", c.Audience)
		e.str("nonce", c.Nonce)
		e.time("exp", c.ExpiresAt)
		e.time("iat", c.IssuedAt)
		e.time("rat", c.RequestedAt)
		e.time("auth_time", c.AuthTime)
		e.str("at_hash", c.AccessTokenHash)
		e.str("acr", c.AuthenticationContextClassReference)
		e.strs("amr", c.AuthenticationMethodsReferences)
		e.str("c_hash", c.CodeHash)
		if err := e.any("ext", c.Extra); err != nil {
			return nil, err
		}
		e.close()
	}
	if h := ds.Headers; h != nil {
		e.key("headers")
		e.open()
		if err := e.any("extra", h.Extra); err != nil {
			return nil, err
		}
		e.close()
	}
	if len(ds.ExpiresAt) > 0 {
		e.key("expires_at")
		e.open()
		kinds := make([]string, 0, len(ds.ExpiresAt))
		for k := range ds.ExpiresAt {
			kinds = append(kinds, string(k))
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			e.key(k)
			e.timeValue(ds.ExpiresAt[fosite.TokenType(k)])
		}
		e.close()
	}
	e.str("username", ds.Username)
	e.str("subject", ds.Subject)
	e.strs("userinfo_claims", userinfo)
	e.close()
	e.close()
	return e.b, nil
}

// jsonObject appends JSON; it tracks only whether a comma is due.
type jsonObject struct {
	b     []byte
	comma bool
}

func (e *jsonObject) open() {
	e.sep()
	e.b = append(e.b, '{')
	e.comma = false
}

func (e *jsonObject) close() {
	e.b = append(e.b, '}')
	e.comma = true
}

func (e *jsonObject) sep() {
	if e.comma {
		e.b = append(e.b, ',')
	}
}

// key writes "k": and leaves the value to the caller.
func (e *jsonObject) key(k string) {
	e.sep()
	e.b = appendJSONString(e.b, k)
	e.b = append(e.b, ':')
	e.comma = false
}

func (e *jsonObject) str(k, v string) {
	if v == "" {
		return
	}
	e.key(k)
	e.b = appendJSONString(e.b, v)
	e.comma = true
}

func (e *jsonObject) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	e.key(k)
	e.array(v)
}

func (e *jsonObject) array(v []string) {
	e.sep()
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendJSONString(e.b, s)
	}
	e.b = append(e.b, ']')
	e.comma = true
}

func (e *jsonObject) time(k string, t time.Time) {
	if t.IsZero() {
		return
	}
	e.key(k)
	e.timeValue(t)
}

// timeValue writes t as encoding/json does (RFC 3339 with nanoseconds).
func (e *jsonObject) timeValue(t time.Time) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	e.b = append(e.b, '"')
	e.comma = true
}

func (e *jsonObject) any(k string, v map[string]any) error {
	if len(v) == 0 {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.key(k)
	e.b = append(e.b, raw...)
	e.comma = true
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string: control characters, quote
// and backslash escaped, invalid UTF-8 replaced by U+FFFD (as
// encoding/json does), and U+2028/U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
