// Package httpx holds the HTTP middleware every gatehouse response goes
// through: request ids, security headers with a per-response CSP nonce,
// panic recovery and access logs.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
)

type ctxKey int

const (
	nonceKey ctxKey = iota
	requestIDKey
	clientIPKey
)

// Nonce returns the CSP nonce of the current response.
func Nonce(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey).(string)
	return n
}

// RequestID returns the id of the current request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// RandomString returns n random bytes, base64url without padding.
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// RandomID returns a random identifier of n bytes as lowercase hex: safe in
// URLs, logs and command lines (it never starts with "-").
func RandomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Secure sets the security headers on every response. HSTS is added when
// https is true.
func Secure(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := RandomString(18)
		h := w.Header()
		// No form-action: browsers apply it to the redirect that follows a
		// form post, which must reach the client's redirect URI.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "interest-cohort=()")
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey, nonce)))
	})
}

// StatusWriter remembers the status a handler answered (0 until it writes)
// and how many body bytes it wrote.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	Bytes  int
}

// WriteHeader records the first status.
func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and counts the bytes.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Log assigns a request id, recovers panics as a bare 500, and writes one
// access log line per request (path only: query strings can carry codes).
func Log(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := RandomString(12)
		w.Header().Set("X-Request-Id", id)
		sw := &StatusWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic", "request_id", id, "panic", p, "path", r.URL.Path)
				if sw.Status == 0 {
					http.Error(sw, "internal server error", http.StatusInternalServerError)
				}
			}
			attrs := []any{"request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.Status,
				"bytes", sw.Bytes, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
			if sc := trace.SpanFromContext(r.Context()).SpanContext(); sc.IsValid() {
				attrs = append(attrs, "trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
			}
			log.Info("http", attrs...)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// MaxBytes limits request bodies.
func MaxBytes(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}
