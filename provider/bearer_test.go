package provider

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestWriteBearerError: RFC 6750 §3 challenges, one writer for every case.
func TestWriteBearerError(t *testing.T) {
	for _, tc := range []struct {
		e         bearerError
		challenge string
		code      string
	}{
		{bearerError{Status: 401, Description: "An access token is required."}, `Bearer realm="gatehouse"`, "invalid_request"},
		{bearerError{Status: 401, Code: "invalid_token", Description: `bad "token"`}, `Bearer realm="gatehouse", error="invalid_token", error_description="bad  token "`, "invalid_token"},
		{bearerError{Status: 403, Code: "insufficient_scope", Description: "no openid", Scope: "openid"},
			`Bearer realm="gatehouse", error="insufficient_scope", error_description="no openid", scope="openid"`, "insufficient_scope"},
	} {
		rec := httptest.NewRecorder()
		writeBearerError(rec, &tc.e)
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.e.Status || rec.Header().Get("WWW-Authenticate") != tc.challenge || body["error"] != tc.code ||
			rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%+v: %d %q %v", tc.e, rec.Code, rec.Header().Get("WWW-Authenticate"), body)
		}
	}
}
