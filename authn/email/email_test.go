package email

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
)

func TestStep(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := Step{Key: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }}
	p, err := s.Start(context.Background(), authn.Attempt{})
	if err != nil {
		t.Fatal(err)
	}
	var sec Secrets
	if err := json.Unmarshal(p.Options, &sec); err != nil || len(sec.Code) != 6 || len(sec.Link) < 40 {
		t.Fatalf("secrets %+v %v", sec, err)
	}
	if len(p.State) == 0 || strings.Contains(string(p.State), sec.Code) || strings.Contains(string(p.State), sec.Link) {
		t.Fatal("the state holds the secrets in the clear")
	}
	a := authn.Attempt{Subject: "ann", State: p.State}
	other := "000000"
	if sec.Code == other {
		other = "000001"
	}
	for _, tt := range []struct {
		name string
		in   authn.Input
		ok   bool
	}{
		{"the link", authn.Input{Credential: []byte(sec.Link)}, true},
		{"the code", authn.Input{Code: sec.Code}, true},
		{"the code with spaces", authn.Input{Code: " " + sec.Code[:3] + " " + sec.Code[3:] + " "}, true},
		{"another link", authn.Input{Credential: []byte(sec.Link + "x")}, false},
		{"another code", authn.Input{Code: other}, false},
		{"the link as a code", authn.Input{Code: sec.Link}, false},
	} {
		res, err := s.Verify(context.Background(), a, tt.in)
		if (err == nil) != tt.ok || (tt.ok && (res.Subject != "ann" || res.AMR[0] != "email")) {
			t.Errorf("%s: %+v %v", tt.name, res, err)
		}
	}
	if _, err := s.Verify(context.Background(), authn.Attempt{State: p.State}, authn.Input{Code: sec.Code}); !errors.Is(err, authn.ErrAuthFailed) {
		t.Error("a code without a subject signed in")
	}
	now = now.Add(Lifetime)
	if _, err := s.Verify(context.Background(), a, authn.Input{Code: sec.Code}); !errors.Is(err, authn.ErrAuthFailed) {
		t.Error("an expired code signed in")
	}
}
