package upstream_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/upstream"
	"github.com/gatehouse-id/gatehouse/federation"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
)

// TestMap: where each kind of upstream identity leads.
func TestMap(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, u := range []storage.User{
		{Subject: "linked", Email: "linked@example.com"},
		{Subject: "off", Email: "off@example.com", Disabled: true},
		{Subject: "local", Email: "local@example.com"},
	} {
		u.CreatedAt, u.UpdatedAt = now, now
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for sub, local := range map[string]string{"up-linked": "linked", "up-off": "off"} {
		if err := st.CreateFederatedIdentity(ctx, storage.FederatedIdentity{ConnectorID: "gh", UpstreamSubject: sub, Subject: local, CreatedAt: now, LastUsedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	m := upstream.Mapper{Store: st, Now: func() time.Time { return now }}
	open, closed := upstream.IdP{ID: "gh", Name: "GitHub", AllowSignup: true}, upstream.IdP{ID: "gh", Name: "GitHub"}
	tests := []struct {
		name    string
		idp     upstream.IdP
		ident   federation.Identity
		err     error
		subject string // "" : none, "new": a new account
		linkTo  string
	}{
		{"linked", closed, federation.Identity{Subject: "up-linked", AMR: []string{"mfa"}}, nil, "linked", ""},
		{"linked to a disabled account", open, federation.Identity{Subject: "up-off"}, upstream.ErrDisabled, "", ""},
		{"an account's email, not linked", open, federation.Identity{Subject: "up-x", Email: "Local@Example.com"}, nil, "", "local"},
		{"unknown, sign-up off", closed, federation.Identity{Subject: "up-y", Email: "new@example.com"}, upstream.ErrNoAccount, "", ""},
		{"unknown without an email", open, federation.Identity{Subject: "up-z"}, upstream.ErrNeedsEmail, "", ""},
		{"unknown, sign-up on", open, federation.Identity{Subject: "up-new", Email: "new@example.com", Name: "New"}, nil, "new", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.Map(ctx, tt.idp, tt.ident, nil)
			if !errors.Is(err, tt.err) || (err != nil && !errors.Is(err, authn.ErrAuthFailed)) {
				t.Fatalf("Map: %v, want %v (an authn.ErrAuthFailed)", err, tt.err)
			}
			switch {
			case tt.linkTo != "":
				if out.LinkTo == nil || out.LinkTo.Subject != tt.linkTo || out.Result.Subject != "" {
					t.Fatalf("outcome %+v, want a link to %s first", out, tt.linkTo)
				}
			case tt.subject == "new":
				u, err := st.GetUser(ctx, out.Result.Subject)
				if err != nil || !out.Created || u.Email != tt.ident.Email || !u.EmailVerified {
					t.Fatalf("sign-up: %+v %+v %v", out, u, err)
				}
				if fi, err := st.GetFederatedIdentity(ctx, "gh", tt.ident.Subject); err != nil || fi.Subject != u.Subject {
					t.Fatalf("the new account is not linked: %+v %v", fi, err)
				}
			case tt.subject != "":
				if out.Result.Subject != tt.subject || out.Created || !slices.Contains(out.Result.AMR, "fed") || !out.Result.AuthTime.Equal(now) {
					t.Fatalf("outcome %+v, want a sign-in to %s", out, tt.subject)
				}
			}
		})
	}
	if got := upstream.AMR([]string{"pwd", "otp"}); !slices.Equal(got, []string{"fed", "fed:pwd", "fed:otp"}) {
		t.Errorf("AMR = %v", got)
	}
}
