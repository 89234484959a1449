package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// The measured requests go through a lean HTTP/1.1 client of the load
// generator's own: on a machine it shares with the server, every
// microsecond the client spends is taken from the server it measures, and
// net/http's client (two goroutines and channels per connection, a
// Request and a Response with their header maps per call) costs about as
// much CPU per request as a token endpoint. This one writes each request
// in one write on a keep-alive connection taken from a free list and reads
// the response in place: status line, the headers it needs, then a body
// framed by Content-Length, chunked encoding or the end of the connection.
// Browser-like steps (redirects, cookies) still use net/http.

// wireTimeout bounds a request whose context has no deadline.
const wireTimeout = 30 * time.Second

// wireIdle is how long a connection may sit unused before it is replaced
// rather than risk a server's idle timeout closing it mid-request (a
// request is never retried: a token endpoint is not idempotent).
const wireIdle = 2 * time.Second

// maxBody bounds a response body.
const maxBody = 1 << 20

// wirePool is the keep-alive connections to one scheme://host.
type wirePool struct {
	scheme, host, addr string
	tls                *tls.Config
	mu                 sync.Mutex
	free               []*wireConn
}

type wireConn struct {
	c        net.Conn
	r        *bufio.Reader
	wbuf     []byte
	body     []byte
	deadline time.Time
	used     time.Time
}

// wireResponse is a response read in place; Body is valid until the
// connection is used again (callers copy or decode it before that).
type wireResponse struct {
	Status int
	Body   []byte
	// Location is the Location header, if any.
	Location string
}

func newWirePool(u *url.URL) (*wirePool, error) {
	p := &wirePool{scheme: u.Scheme, host: u.Host, addr: u.Host}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			p.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			p.addr = net.JoinHostPort(u.Hostname(), "443")
		}
		p.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("bench: unsupported URL scheme %q", u.Scheme)
	}
	return p, nil
}

func (p *wirePool) get(ctx context.Context) (*wireConn, error) {
	now := time.Now()
	p.mu.Lock()
	for n := len(p.free); n > 0; n = len(p.free) {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		if now.Sub(c.used) < wireIdle {
			p.mu.Unlock()
			return c, nil
		}
		c.c.Close()
	}
	p.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &wireConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (p *wirePool) put(c *wireConn) {
	c.used = time.Now()
	p.mu.Lock()
	p.free = append(p.free, c)
	p.mu.Unlock()
}

// do sends one request and hands the response to fn before the connection
// goes back to the pool. header lines are "Name: value" without CRLF.
func (p *wirePool) do(ctx context.Context, method, path string, header []string, body []byte, fn func(wireResponse) error) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(wireTimeout)
	}
	if !deadline.Equal(c.deadline) {
		c.c.SetDeadline(deadline)
		c.deadline = deadline
	}
	w := c.wbuf[:0]
	w = append(w, method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, p.host...)
	w = append(w, "\r\nUser-Agent: gatehouse-bench\r\n"...)
	for _, h := range header {
		w = append(w, h...)
		w = append(w, "\r\n"...)
	}
	if body != nil {
		w = append(w, "Content-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.wbuf = w
	if _, err := c.c.Write(w); err != nil {
		c.c.Close()
		return err
	}
	resp, keep, err := c.read(method == "HEAD")
	if err != nil {
		c.c.Close()
		return err
	}
	err = fn(resp)
	if keep {
		p.put(c)
	} else {
		c.c.Close()
	}
	return err
}

// wireTarget is a parsed endpoint.
type wireTarget struct {
	pool *wirePool
	path string // path and query
}

var errMalformed = errors.New("bench: malformed HTTP response")

// read reads one response (skipping 1xx) and says whether the connection
// can carry another request.
func (c *wireConn) read(head bool) (resp wireResponse, keep bool, err error) {
	for {
		line, err := c.line()
		if err != nil {
			return resp, false, err
		}
		// HTTP/1.x SSS reason
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return resp, false, errMalformed
		}
		status, err := strconv.Atoi(string(line[9:12]))
		if err != nil {
			return resp, false, errMalformed
		}
		keep = line[7] == '1'
		length, chunked := int64(-1), false
		for {
			h, err := c.line()
			if err != nil {
				return resp, false, err
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok {
				return resp, false, errMalformed
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "content-length"):
				if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
					return resp, false, errMalformed
				}
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = asciiEqualFold(value, "chunked")
			case asciiEqualFold(name, "connection"):
				if asciiEqualFold(value, "close") {
					keep = false
				} else if asciiEqualFold(value, "keep-alive") {
					keep = true
				}
			case asciiEqualFold(name, "location"):
				resp.Location = string(value)
			}
		}
		if status >= 100 && status < 200 {
			continue
		}
		resp.Status = status
		c.body = c.body[:0]
		switch {
		case head || status == 204 || status == 304:
		case chunked:
			err = c.readChunked()
		case length >= 0:
			if length > maxBody {
				return resp, false, fmt.Errorf("bench: response body of %d bytes", length)
			}
			c.body = grow(c.body, int(length))
			_, err = io.ReadFull(c.r, c.body)
		default: // until the server closes
			keep = false
			c.body, err = readAllLimited(c.r, c.body)
		}
		resp.Body = c.body
		return resp, keep, err
	}
}

func (c *wireConn) readChunked() error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 || int64(len(c.body))+n > maxBody {
			return errMalformed
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := c.line()
				if err != nil || len(t) == 0 {
					return err
				}
			}
		}
		start := len(c.body)
		c.body = grow(c.body, start+int(n))
		if _, err := io.ReadFull(c.r, c.body[start:]); err != nil {
			return err
		}
		if crlf, err := c.line(); err != nil || len(crlf) != 0 {
			return errMalformed
		}
	}
}

// line reads a CRLF-terminated line (without it); it is valid until the
// next read.
func (c *wireConn) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errMalformed
		}
		return nil, err
	}
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n, n+n/2)
		copy(nb, b)
		return nb
	}
	return b[:n]
}

func readAllLimited(r io.Reader, b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	n, err := buf.ReadFrom(io.LimitReader(r, maxBody+1))
	if n > maxBody {
		return nil, errors.New("bench: response body over 1 MiB")
	}
	return buf.Bytes(), err
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// wires are the pools by scheme://host and the parsed endpoints by URL.
type wires struct {
	pools, targets sync.Map
}

func (e *Env) target(raw string) (*wireTarget, error) {
	if t, ok := e.wire.targets.Load(raw); ok {
		return t.(*wireTarget), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	key := u.Scheme + "://" + u.Host
	p, ok := e.wire.pools.Load(key)
	if !ok {
		np, err := newWirePool(u)
		if err != nil {
			return nil, err
		}
		p, _ = e.wire.pools.LoadOrStore(key, np)
	}
	t := &wireTarget{pool: p.(*wirePool), path: u.RequestURI()}
	e.wire.targets.Store(raw, t)
	return t, nil
}

// send makes one request through the lean client; a 200 answer's JSON is
// decoded into v (when not nil), any other status is an error.
func (e *Env) send(ctx context.Context, method, endpoint string, header []string, body []byte, v any) error {
	t, err := e.target(endpoint)
	if err != nil {
		return err
	}
	return t.pool.do(ctx, method, t.path, header, body, func(r wireResponse) error {
		if r.Status != 200 {
			return fmt.Errorf("%s %s: status %d: %.200s", method, t.path, r.Status, r.Body)
		}
		if v != nil {
			if err := json.Unmarshal(r.Body, v); err != nil {
				return fmt.Errorf("%s %s: %w", method, t.path, err)
			}
		}
		return nil
	})
}
