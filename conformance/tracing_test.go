package conformance

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver.
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// find returns the spans of trace that match.
func (c *collector) find(trace []byte, match func(*tracepb.Span) bool) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if (trace == nil || string(s.TraceId) == string(trace)) && match(s) {
			out = append(out, s)
		}
	}
	return out
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.GetStringValue()
		}
	}
	return ""
}

// TestTracing (issue 15): with an OTLP exporter configured, a request that
// arrives with a W3C traceparent continues that trace; its span is named
// after the route, the SQL statements it sends are its children (text
// without arguments), its call to another server (the client's jwks_uri)
// is a client span in the same trace, and the access log line carries the
// trace id.
func TestTracing(t *testing.T) {
	t.Parallel()
	col := &collector{}
	otlp := httptest.NewServer(col)
	defer otlp.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer keysSrv.Close()
	s := startServer(t, backends(t)[0].newURL(t), append(machineRegistration, "GATEHOUSE_TRACING_EXPORTER=otlp-http",
		"GATEHOUSE_TRACING_ENDPOINT="+otlp.URL+"/v1/traces", "GATEHOUSE_TRACING_BATCH_TIMEOUT=200ms")...)
	st, reg := regCall(t, http.MethodPost, s.issuer+"/oauth2/register", "", map[string]any{"client_name": "Traced", "grant_types": []string{"client_credentials"},
		"scope": "api", "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keysSrv.URL + "/jwks.json"})
	if st != 201 {
		t.Fatalf("register: %d %v", st, reg)
	}
	clientID := reg["client_id"].(string)

	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {assertion(t, key, "k1", "RS256", assertionClaims(clientID, s.issuer+"/oauth2/token"))}}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d", resp.StatusCode)
	}

	tid, _ := hex.DecodeString(traceID)
	var server, statements, fetches []*tracepb.Span
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		server = col.find(tid, func(sp *tracepb.Span) bool {
			return sp.Name == "POST /oauth2/token" && sp.Kind == tracepb.Span_SPAN_KIND_SERVER
		})
		statements = col.find(tid, func(sp *tracepb.Span) bool { return attr(sp, "db.statement") != "" })
		fetches = col.find(tid, func(sp *tracepb.Span) bool {
			return sp.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.HasPrefix(sp.Name, "GET 127.0.0.1")
		})
		if len(server) > 0 && len(statements) > 0 && len(fetches) > 0 {
			break
		}
	}
	if len(server) != 1 || string(server[0].ParentSpanId) != string([]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}) {
		t.Fatalf("the token request's span continuing the incoming trace: %v", server)
	}
	// Every statement descends from the request's span (fosite's own spans
	// may sit between).
	all := col.find(tid, func(*tracepb.Span) bool { return true })
	byID := map[string]*tracepb.Span{}
	for _, sp := range all {
		byID[string(sp.SpanId)] = sp
	}
	under := func(sp *tracepb.Span) bool {
		for i := 0; sp != nil && i < 20; i++ {
			if string(sp.ParentSpanId) == string(server[0].SpanId) {
				return true
			}
			sp = byID[string(sp.ParentSpanId)]
		}
		return false
	}
	for _, st := range statements {
		if !under(st) {
			t.Errorf("statement span %q is not under the request's span", st.Name)
		}
		if strings.Contains(attr(st, "db.statement"), "eyJ") {
			t.Error("a statement span holds an argument")
		}
	}
	if len(fetches) == 0 {
		t.Error("no client span for the jwks_uri fetch in the request's trace")
	}
	if !strings.Contains(s.logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Error("the access log does not carry the trace id")
	}
}
