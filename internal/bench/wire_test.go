package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func poolFor(t *testing.T, raw string) *wirePool {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newWirePool(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWireClient(t *testing.T) {
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"method":"`+r.Method+`","body":"`+string(b)+`","auth":"`+r.Header.Get("Authorization")+`"}`)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("x", 5000))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := poolFor(t, srv.URL)
	ctx := context.Background()

	var got string
	read := func(r wireResponse) error { got = string(r.Body); return nil }
	for i := 0; i < 5; i++ {
		if err := p.do(ctx, "POST", "/length", []string{"Authorization: Basic eDp5"}, []byte("a=b"), read); err != nil {
			t.Fatal(err)
		}
		if got != `{"method":"POST","body":"a=b","auth":"Basic eDp5"}` {
			t.Fatalf("body %q", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 requests opened %d connections, want 1 (keep-alive)", n)
	}

	if err := p.do(ctx, "GET", "/chunked", nil, nil, read); err != nil {
		t.Fatal(err)
	}
	if got != "first,"+strings.Repeat("x", 5000) {
		t.Fatalf("chunked body of %d bytes", len(got))
	}

	if err := p.do(ctx, "GET", "/close", nil, nil, read); err != nil || got != "bye" {
		t.Fatalf("close: %q %v", got, err)
	}
	if err := p.do(ctx, "GET", "/length", nil, nil, read); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("after Connection: close, %d connections, want 2", n)
	}

	var status int
	var loc string
	if err := p.do(ctx, "GET", "/status", nil, nil, func(r wireResponse) error { status, loc = r.Status, r.Location; return nil }); err != nil {
		t.Fatal(err)
	}
	if status != 303 || loc != "/elsewhere" {
		t.Errorf("status %d location %q", status, loc)
	}

	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := p.do(dctx, "GET", "/slow", nil, nil, read)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("request past its context's deadline: %v, want a timeout", err)
	}
	if err := p.do(ctx, "GET", "/length", nil, nil, read); err != nil {
		t.Fatalf("after a timed-out request: %v", err)
	}
}

// rawServer answers every connection with the given bytes after reading a
// request's header.
func rawServer(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				io.WriteString(c, answer)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestWireClientResponses(t *testing.T) {
	tests := []struct {
		name, answer, body string
		status             int
		bad                bool
	}{
		{name: "1xx skipped", answer: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", body: "ok", status: 200},
		{name: "HTTP/1.0 until close", answer: "HTTP/1.0 200 OK\r\n\r\nuntil the end", body: "until the end", status: 200},
		{name: "chunk extension and trailer", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n", body: "abc", status: 200},
		{name: "error status", answer: "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad", body: "bad", status: 400},
		{name: "not HTTP", answer: "SSH-2.0-OpenSSH\r\n", bad: true},
		{name: "bad length", answer: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", bad: true},
		{name: "too long", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", bad: true},
		{name: "bad chunk", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad: true},
		{name: "truncated", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := poolFor(t, rawServer(t, tt.answer))
			var status int
			var body string
			err := p.do(context.Background(), "GET", "/", nil, nil, func(r wireResponse) error {
				status, body = r.Status, string(r.Body)
				return nil
			})
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: status %d body %q", status, body)
				}
				return
			}
			if err != nil || status != tt.status || body != tt.body {
				t.Fatalf("got %d %q %v, want %d %q", status, body, err, tt.status, tt.body)
			}
		})
	}
}
