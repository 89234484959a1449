package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	gmail "github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSMTPTransports: each email.tls mode against a real SMTP server of the
// matching kind, with AUTH PLAIN or LOGIN, whichever the server offers;
// STARTTLS refuses a server that does not offer it and implicit TLS a
// server that does not speak it, so credentials never go out in the clear
// unless tls is none; a wrong password is an error. None of these failures
// gives a message up: fixing the settings lets the queue drain.
func TestSMTPTransports(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		server   mailtest.Options
		tls      string
		password string
		wantTLS  bool
		wantAuth string // "": the send fails
	}{
		{"starttls, PLAIN", mailtest.Options{}, gmail.TLSStartTLS, mailtest.Password, true, sasl.Plain},
		{"starttls, LOGIN", mailtest.Options{Mechanisms: []string{sasl.Login}}, gmail.TLSStartTLS, mailtest.Password, true, sasl.Login},
		{"implicit, PLAIN", mailtest.Options{Implicit: true}, gmail.TLSImplicit, mailtest.Password, true, sasl.Plain},
		{"implicit, LOGIN", mailtest.Options{Implicit: true, Mechanisms: []string{sasl.Login}}, gmail.TLSImplicit, mailtest.Password, true, sasl.Login},
		{"none, a local relay", mailtest.Options{NoTLS: true}, gmail.TLSNone, mailtest.Password, false, sasl.Plain},
		{"starttls, a server without it", mailtest.Options{NoTLS: true}, gmail.TLSStartTLS, mailtest.Password, false, ""},
		{"implicit, a plain server", mailtest.Options{}, gmail.TLSImplicit, mailtest.Password, false, ""},
		{"starttls, a wrong password", mailtest.Options{}, gmail.TLSStartTLS, "not-the-password", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.StartWith(t, tc.server)
			sender, err := gmail.NewSMTP(gmail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port, From: "no-reply@id.example.com",
				Username: mailtest.Username, Password: tc.password, TLS: tc.tls, Timeout: 5 * time.Second,
				TLSConfig: &tls.Config{RootCAs: srv.Roots, ServerName: "127.0.0.1"}})
			if err != nil {
				t.Fatal(err)
			}
			err = sender.Send(context.Background(), storage.Mail{To: "ann@example.com", Subject: "Hello", Text: "Hello Ann"}, "m1@id.example.com")
			got := srv.Messages()
			if tc.wantAuth == "" {
				// Each is the server's configuration or ours, not the
				// message's: retried until fixed, never given up at once.
				if err == nil || errors.Is(err, gmail.ErrPermanent) || len(got) != 0 {
					t.Fatalf("sent (%v), %d received", err, len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].TLS != tc.wantTLS || got[0].Auth != tc.wantAuth || got[0].Header.Get("Message-Id") != "<m1@id.example.com>" {
				t.Fatalf("received %d: %+v", len(got), got)
			}
		})
	}
}

// TestSMTPTimeout: a server that accepts the connection and never speaks
// costs an attempt email.timeout long, not a stuck sender.
func TestSMTPTimeout(t *testing.T) {
	t.Parallel()
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
			t.Cleanup(func() { c.Close() }) // held open, silent
		}
	}()
	sender, err := gmail.NewSMTP(gmail.SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "no-reply@id.example.com",
		TLS: gmail.TLSStartTLS, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- sender.Send(context.Background(), storage.Mail{To: "ann@example.com", Subject: "Hello", Text: "x"}, "m2@id.example.com")
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, gmail.ErrPermanent) {
			t.Fatalf("a silent server: %v (want a retryable error)", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the send outlived its timeout by a minute")
	}
}
