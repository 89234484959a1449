// Package mailtest is a real SMTP server for tests (go-smtp), on
// 127.0.0.1, with STARTTLS or implicit TLS (a self-signed certificate the
// returned pool trusts) and AUTH PLAIN or LOGIN, keeping every message it accepts. It speaks the
// protocol: tests read the mail gatehouse sent, never a mock of the sender.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Username and Password are the credentials the server accepts.
const (
	Username = "gatehouse"
	Password = "s3cret"
)

// Message is a message the server accepted.
type Message struct {
	From string
	To   []string
	// Header and Body are the parsed message (Body is the raw MIME body).
	Header mail.Header
	Body   []byte
	// TLS says the message came over an encrypted connection; Auth is
	// the AUTH mechanism the client used.
	TLS  bool
	Auth string
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port; Port alone; Roots trusts its certificate.
	Addr  string
	Port  int
	Roots *x509.CertPool

	mu     sync.Mutex
	inbox  []Message
	reject int
	notify chan struct{}
}

// Options shape a server: where it listens, how it offers TLS and which
// AUTH mechanisms it announces.
type Options struct {
	// Addr is host:port; "" is a free port on 127.0.0.1.
	Addr string
	// Implicit serves TLS from the first byte (port 465, "SMTPS");
	// otherwise the server offers STARTTLS, unless NoTLS.
	Implicit bool
	// NoTLS offers no STARTTLS at all (a plain relay).
	NoTLS bool
	// Mechanisms are the AUTH mechanisms announced: sasl.Plain and
	// sasl.Login; none given means PLAIN only.
	Mechanisms []string
}

// Start runs a server on addr ("" : a free port) with STARTTLS and AUTH
// PLAIN until the test ends.
func Start(t testing.TB, addr string) *Server {
	t.Helper()
	return StartWith(t, Options{Addr: addr})
}

// StartWith runs a server shaped by o until the test ends.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	cert, roots := selfSigned(t)
	mechs := o.Mechanisms
	if len(mechs) == 0 {
		mechs = []string{sasl.Plain}
	}
	s := &Server{Roots: roots, notify: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c, mechs: mechs}, nil }))
	srv.Domain = "localhost"
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	if !o.NoTLS && !o.Implicit {
		srv.TLSConfig = tlsConfig
	}
	srv.AllowInsecureAuth = true // tls: none is a configuration gatehouse supports (a local relay)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Addr, s.Port = ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	if o.Implicit {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Reject makes the server answer RCPT with code (0: accept again).
func (s *Server) Reject(code int) {
	s.mu.Lock()
	s.reject = code
	s.mu.Unlock()
}

// Messages returns what the server accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.inbox...)
}

// Wait waits until the server holds at least n messages, at most d.
func (s *Server) Wait(t testing.TB, n int, d time.Duration) []Message {
	t.Helper()
	deadline := time.After(d)
	for {
		if got := s.Messages(); len(got) >= n {
			return got
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("%d of %d messages arrived in %v", len(s.Messages()), n, d)
		}
	}
}

type session struct {
	s      *Server
	c      *smtp.Conn
	mechs  []string
	authed string // the mechanism that succeeded
	from   string
	to     []string
}

func (x *session) AuthMechanisms() []string { return x.mechs }

func (x *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != Username || pass != Password {
			// What Postfix and most submission servers answer.
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		x.authed = mech
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login):
// it asks for the user name, then the password. go-sasl has only the
// client side.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 { // an initial response is the user name
			l.user, l.step = string(response), 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected response")
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.authed == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	code := x.s.reject
	x.s.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, Message: "refused by the test server"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	_, encrypted := x.c.TLSConnectionState()
	x.s.inbox = append(x.s.inbox, Message{From: x.from, To: x.to, Header: m.Header, Body: body, TLS: encrypted, Auth: x.authed})
	x.s.mu.Unlock()
	select {
	case x.s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// Text is the message's plain-text part, decoded (quoted-printable or
// base64), whether the message is multipart or not.
func (m Message) Text() (string, error) { return m.part("text/plain") }

// HTML is the message's HTML part, decoded.
func (m Message) HTML() (string, error) { return m.part("text/html") }

func (m Message) part(want string) (string, error) {
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(ct, "multipart/") {
		if ct != want {
			return "", fmt.Errorf("the message is %s, not %s", ct, want)
		}
		return decode(m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	r := multipart.NewReader(bytes.NewReader(m.Body), params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err != nil {
			return "", fmt.Errorf("no %s part: %w", want, err)
		}
		pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pct != want {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", err
		}
		return decode(p.Header.Get("Content-Transfer-Encoding"), b)
	}
}

func decode(encoding string, b []byte) (string, error) {
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		return string(out), err
	case "base64":
		out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		return string(out), err
	}
	return string(b), nil
}
