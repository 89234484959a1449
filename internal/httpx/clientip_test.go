package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		trusted    bool
		header     map[string]string
		want       string
	}{
		{"no proxies: headers ignored", "203.0.113.7:5000", false, map[string]string{"X-Forwarded-For": "1.1.1.1"}, "203.0.113.7"},
		{"untrusted peer: headers ignored", "203.0.113.7:5000", true, map[string]string{"X-Forwarded-For": "1.1.1.1"}, "203.0.113.7"},
		{"trusted peer, no header", "10.1.2.3:5000", true, nil, "10.1.2.3"},
		{"trusted peer: rightmost untrusted hop", "10.1.2.3:5000", true, map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.9, 10.9.9.9"}, "198.51.100.9"},
		{"a forged left part is not believed", "127.0.0.1:5000", true, map[string]string{"X-Forwarded-For": "1.2.3.4, 198.51.100.9"}, "198.51.100.9"},
		{"only proxies: the peer", "10.1.2.3:5000", true, map[string]string{"X-Forwarded-For": "10.0.0.1"}, "10.1.2.3"},
		{"unreadable hop: the peer", "10.1.2.3:5000", true, map[string]string{"X-Forwarded-For": "garbage"}, "10.1.2.3"},
		{"Forwarded wins over X-Forwarded-For", "10.1.2.3:5000", true, map[string]string{"Forwarded": `for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`, "X-Forwarded-For": "5.5.5.5"}, "2001:db8::1"},
		{"Forwarded with a port", "10.1.2.3:5000", true, map[string]string{"Forwarded": `for="192.0.2.60:8080"`}, "192.0.2.60"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.7]:5000", true, nil, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			var tr = trusted
			if !tt.trusted {
				tr = nil
			}
			var got string
			RealIP(tr, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = ClientIP(r) })).ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParsePrefixes([]string{"not-an-address"}); err == nil {
		t.Fatal("a bad proxy range was accepted")
	}
}
