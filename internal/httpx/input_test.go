package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCleanInput(t *testing.T) {
	tests := []struct {
		name, method, target, ctype, body string
		basic                             [2]string
		want                              int
	}{
		{"clean GET", "GET", "/login?flow=abc", "", "", [2]string{}, 200},
		{"invalid UTF-8 in the query", "GET", "/login?flow=%ff", "", "", [2]string{}, 400},
		{"NUL in the query", "GET", "/login?flow=a%00b", "", "", [2]string{}, 400},
		{"NUL in a query name", "GET", "/login?fl%00ow=a", "", "", [2]string{}, 400},
		{"NUL in the path", "GET", "/oauth2/register/a%00b", "", "", [2]string{}, 400},
		{"invalid UTF-8 in the path", "GET", "/oauth2/register/a%C3", "", "", [2]string{}, 400},
		{"unicode is fine", "GET", "/login?name=J%C3%BCrgen", "", "", [2]string{}, 200},
		{"undecodable escape left to the handler", "GET", "/login?flow=%zz", "", "", [2]string{}, 200},
		{"clean form", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a+b", [2]string{}, 200},
		{"NUL in a form field", "POST", "/login", "application/x-www-form-urlencoded", "email=a%00b%40example.com&password=x", [2]string{}, 400},
		{"invalid UTF-8 in a form field", "POST", "/oauth2/token", "application/x-www-form-urlencoded; charset=utf-8", "client_id=%ff", [2]string{}, 400},
		{"NUL in Basic credentials", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", [2]string{"a\x00b", "s"}, 400},
		{"clean JSON", "POST", "/oauth2/register", "application/json", `{"client_name":"Caf\u00e9 \\u0000 literal"}`, [2]string{}, 200},
		{"NUL escape in JSON", "POST", "/oauth2/register", "application/json", `{"client_name":"a\u0000b"}`, [2]string{}, 400},
		{"invalid UTF-8 in JSON", "POST", "/admin/v1/users", "application/json", "{\"name\":\"\xff\"}", [2]string{}, 400},
		{"an undecodable form", "POST", "/login", "application/x-www-form-urlencoded", "a=%zz", [2]string{}, 400},
		{"a form over 64 KiB", "POST", "/login", "application/x-www-form-urlencoded", "a=" + strings.Repeat("x", 70<<10), [2]string{}, 413},
		{"other bodies are not read", "POST", "/upload", "application/octet-stream", "\x00\xff", [2]string{}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := CleanInput(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(tt.ctype, "application/x-www-form-urlencoded") {
					_ = r.ParseForm() // the handler's own call: already parsed
					seen = r.PostForm.Encode()
					return
				}
				b, _ := io.ReadAll(r.Body)
				seen = string(b)
			}))
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			if tt.basic[0] != "" {
				r.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			want := tt.body
			if strings.HasPrefix(tt.ctype, "application/x-www-form-urlencoded") {
				q, _ := url.ParseQuery(tt.body)
				want = q.Encode()
			}
			if tt.want == 200 && seen != want {
				t.Fatalf("the handler read %q, want the whole body %q", seen, tt.body)
			}
			if tt.want >= 400 && !strings.Contains(w.Body.String(), `"invalid_request"`) {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
}
