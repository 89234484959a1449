package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestInstrumentCountsByRouteAndStatus(t *testing.T) {
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /quiet", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := m.Instrument(mux)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/things/1"}, {"GET", "/things/2"}, {"GET", "/things/missing"}, {"POST", "/quiet"}, {"GET", "/nowhere"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
	}
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		// The route is the pattern, never the raw path (ids stay out of the labels).
		`gatehouse_http_request_duration_seconds_count{code="200",route="GET /things/{id}"} 2`,
		`gatehouse_http_request_duration_seconds_count{code="404",route="GET /things/{id}"} 1`,
		`gatehouse_http_request_duration_seconds_count{code="200",route="POST /quiet"} 1`,
		`gatehouse_http_request_duration_seconds_count{code="404",route="unmatched"} 1`,
		`gatehouse_http_request_duration_seconds_count{code="500",route="GET /panic"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "/things/1") || strings.Contains(body, "nowhere") {
		t.Error("a raw path reached a label")
	}
	if strings.Contains(body, StatementsMetric) {
		t.Error("a store counter without a store")
	}
}
