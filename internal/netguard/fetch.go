package netguard

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// Client is the HTTP client for URLs a client registered (jwks_uri,
// logo_uri): 5 s in all, no redirects, and, unless allowPrivate, only public
// addresses (IsPublic), checked on the address dialled.
func Client(field string, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, c syscall.RawConn) error {
			if err := Control(network, address, c); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
			return nil
		}
	}
	transport := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 3 * time.Second, ResponseHeaderTimeout: 3 * time.Second,
		MaxIdleConns: 10, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tracing.Transport(transport), Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return fmt.Errorf("%s redirects are not followed", field)
	}}
}

// Fetch GETs a document a client registered (field names it in
// errors) through hc, a Client: 200 only, at most max bytes.
func Fetch(ctx context.Context, hc *http.Client, field, uri, accept string, max int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d", field, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(body) > max {
		return nil, fmt.Errorf("%s document is larger than %d bytes", field, max)
	}
	return body, nil
}
