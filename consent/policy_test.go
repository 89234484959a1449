package consent

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

func TestNeedsLogin(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sess := storage.BrowserSession{Subject: "alice", AuthTime: now.Add(-10 * time.Minute)}
	req := func(mod func(*interaction.AuthorizeRequest)) interaction.AuthorizeRequest {
		r := interaction.AuthorizeRequest{MaxAge: -1}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	tests := []struct {
		name       string
		req        interaction.AuthorizeRequest
		hasSession bool
		want       bool
	}{
		{"no session", req(nil), false, true},
		{"session is enough", req(nil), true, false},
		{"prompt=login", req(func(r *interaction.AuthorizeRequest) { r.Prompt = []string{"login"} }), true, true},
		{"prompt=select_account", req(func(r *interaction.AuthorizeRequest) { r.Prompt = []string{"select_account"} }), true, true},
		{"prompt=consent alone keeps the session", req(func(r *interaction.AuthorizeRequest) { r.Prompt = []string{"consent"} }), true, false},
		{"max_age=0 always re-authenticates", req(func(r *interaction.AuthorizeRequest) { r.MaxAge = 0 }), true, true},
		{"max_age older than the login", req(func(r *interaction.AuthorizeRequest) { r.MaxAge = 300 }), true, true},
		{"max_age newer than the login", req(func(r *interaction.AuthorizeRequest) { r.MaxAge = 3600 }), true, false},
		{"id_token_hint of another user", req(func(r *interaction.AuthorizeRequest) { r.HintSubject = "bob" }), true, true},
		{"id_token_hint of this user", req(func(r *interaction.AuthorizeRequest) { r.HintSubject = "alice" }), true, false},
		{"pairwise id_token_hint of this user", req(func(r *interaction.AuthorizeRequest) {
			r.HintSubject, r.SubjectSector = interaction.PairwiseSubject([]byte("k"), "rp.example", "alice"), "rp.example"
		}), true, false},
		{"pairwise id_token_hint of another user", req(func(r *interaction.AuthorizeRequest) {
			r.HintSubject, r.SubjectSector = interaction.PairwiseSubject([]byte("k"), "rp.example", "bob"), "rp.example"
		}), true, true},
		{"public subject where the client is pairwise", req(func(r *interaction.AuthorizeRequest) { r.HintSubject, r.SubjectSector = "alice", "rp.example" }), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := needsLogin(now, tt.req, sess, tt.hasSession, []byte("k")); got != tt.want {
				t.Errorf("needsLogin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		amr  []string
		want string
	}{
		{[]string{"pwd"}, "urn:gatehouse:acr:1fa"},
		{nil, "urn:gatehouse:acr:1fa"},
		{[]string{"pwd", "otp"}, "urn:gatehouse:acr:2fa"},
		{[]string{"hwk", "user"}, "urn:gatehouse:acr:2fa"}, // passkey with user verification
		{[]string{"hwk"}, "urn:gatehouse:acr:1fa"},         // passkey without
		{[]string{"otp", "swk"}, "urn:gatehouse:acr:1fa"},  // two of one kind
		{[]string{"fed", "otp"}, "urn:gatehouse:acr:2fa"},
		{[]string{"fed", "fed:pwd"}, "urn:gatehouse:acr:1fa"},                       // upstream password only
		{[]string{"fed", "fed:pwd", "fed:otp", "fed:mfa"}, "urn:gatehouse:acr:2fa"}, // upstream did two
		{[]string{"fed", "fed:mfa"}, "urn:gatehouse:acr:2fa"},
		{[]string{"fed", "fed:pwd", "otp"}, "urn:gatehouse:acr:2fa"}, // local second factor after federation
		{[]string{"fed:pwd", "fed:otp"}, "urn:gatehouse:acr:1fa"},    // never without fed
	}
	for _, tt := range tests {
		if got := policy(tt.amr); got != tt.want {
			t.Errorf("policy(%v) = %s, want %s", tt.amr, got, tt.want)
		}
	}
}

// TestTransitions pins the flow state machine: only forward moves, each
// state left once, nothing leaves redeemed.
func TestTransitions(t *testing.T) {
	states := []State{StateLogin, StateMFA, StateConsent, StateGranted, StateDenied, StateRedeemed}
	allowed := map[[2]State]bool{
		{StateLogin, StateConsent}: true, {StateLogin, StateGranted}: true,
		// a second factor, and flows of gatehouse's own pages (no consent)
		{StateLogin, StateMFA}: true, {StateLogin, StateRedeemed}: true,
		{StateMFA, StateConsent}: true, {StateMFA, StateGranted}: true, {StateMFA, StateRedeemed}: true,
		{StateConsent, StateGranted}: true, {StateConsent, StateDenied}: true,
		{StateGranted, StateRedeemed}: true, {StateDenied, StateRedeemed}: true,
	}
	for _, from := range states {
		for _, to := range states {
			if got := from.CanMoveTo(to); got != allowed[[2]State{from, to}] {
				t.Errorf("%s.CanMoveTo(%s) = %v", from, to, got)
			}
		}
	}
}

func TestReportedAMR(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"pwd"}, []string{"pwd"}},
		{[]string{"pwd", "otp"}, []string{"pwd", "otp", "mfa"}},
		{[]string{"fed", "fed:pwd"}, []string{"fed", "pwd"}},
		{[]string{"fed", "fed:pwd", "fed:otp", "fed:mfa"}, []string{"fed", "pwd", "otp", "mfa"}},
		{[]string{"fed", "fed:mfa"}, []string{"fed", "mfa"}},
		{[]string{"fed", "fed:hwk"}, []string{"fed", "hwk"}},
	}
	for _, tt := range tests {
		if got := reportedAMR(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("reportedAMR(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
