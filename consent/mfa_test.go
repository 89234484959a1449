package consent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/authn/backup"
	"github.com/gatehouse-id/gatehouse/authn/passkey"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/authn/totp"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore"
	"github.com/gatehouse-id/gatehouse/storage/sqlstore/sqlitetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// newTestService is a Service on a temporary SQLite database with one user
// ("alice") and an injected clock.
// testEngine is an engine with the steps it was built with in reach.
type testEngine struct {
	*engine
	passwords *password.Hasher
	pwd       password.Step
	backup    backup.Step
	passkeys  *passkey.Step
}

func newTestService(t testing.TB) (*testEngine, *sqlstore.Store, *clock) {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 10, 0, time.UTC)}
	if err := st.CreateUser(ctx, storage.User{Subject: "alice", Email: "alice@example.test", CreatedAt: clk.t, UpdatedAt: clk.t}); err != nil {
		t.Fatal(err)
	}
	cipher, err := keys.NewCipher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k0123456789abcdef0123456789abcdef")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	te := &testEngine{passwords: password.NewHasher(0, 0, 0)}
	te.pwd = password.Step{Users: st, Hasher: te.passwords, Now: clk.Now, Log: log}
	te.backup = backup.Step{Store: st, Key: key, Now: clk.Now}
	if te.passkeys, err = passkey.New(passkey.Config{RPID: "login.example.test", Origins: []string{"https://login.example.test"}}, st, clk.Now); err != nil {
		t.Fatal(err)
	}
	kit := web.New(web.Options{Store: st, Pages: pages, CSRFKey: key, SessionLifetime: time.Hour, Log: log, Now: clk.Now})
	te.engine, err = newEngine(Options{Store: st, Links: st, Web: kit, Attempts: attempt.New(st, clk.Now), CSRFKey: key, Cipher: cipher, Now: clk.Now,
		Steps:           []authn.Authenticator{te.pwd, totp.Step{Store: st, Cipher: cipher, Now: clk.Now}, te.backup, te.passkeys},
		ConsentLifetime: time.Hour, FlowLifetime: time.Hour, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return te, st, clk
}

const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func codeAt(t testing.TB, at time.Time) string {
	c, err := pqtotp.GenerateCode(testSecret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTPStep: the stored secret is sealed; a code passes once; the same
// or an earlier code is refused after it; ±2 steps are refused.
func TestTOTPStep(t *testing.T) {
	s, st, clk := newTestService(t)
	ctx := context.Background()
	sealed, err := s.o.Cipher.Seal([]byte(testSecret), authn.CredentialAAD("cred-1"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, st.CreateCredential(ctx, storage.Credential{ID: "cred-1", Subject: "alice", Type: storage.CredentialTOTP, Name: "app", Secret: sealed, Data: []byte("{}"), CreatedAt: clk.t, LastUsedAt: clk.t}))
	step := s.steps["otp"]
	verify := func(code string) error {
		_, err := step.Verify(ctx, authn.Attempt{Subject: "alice"}, authn.Input{Code: code})
		return err
	}
	if err := verify(codeAt(t, clk.t.Add(-60*time.Second))); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("code two steps old: %v", err)
	}
	if err := verify(codeAt(t, clk.t.Add(60*time.Second))); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("code two steps ahead: %v", err)
	}
	if err := verify(codeAt(t, clk.t)); err != nil {
		t.Fatalf("current code: %v", err)
	}
	if err := verify(codeAt(t, clk.t)); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("same code twice: %v", err)
	}
	if err := verify(codeAt(t, clk.t.Add(-30*time.Second))); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("earlier step after a later one: %v", err)
	}
	clk.t = clk.t.Add(30 * time.Second)
	res, err := step.Verify(ctx, authn.Attempt{Subject: "alice"}, authn.Input{Code: codeAt(t, clk.t)})
	if err != nil || res.Subject != "alice" || len(res.AMR) != 1 || res.AMR[0] != "otp" {
		t.Fatalf("next step: %+v, %v", res, err)
	}
	if err := verify(codeAt(t, clk.t)); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("the next step's code twice: %v", err)
	}
	if _, err := step.Verify(ctx, authn.Attempt{Subject: "bob"}, authn.Input{Code: codeAt(t, clk.t)}); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("another user's code: %v", err)
	}
	// The secret is sealed for its row: moved to another row it does not open.
	if _, err := s.o.Cipher.Open(sealed, authn.CredentialAAD("cred-2")); err == nil {
		t.Error("a sealed TOTP secret opens for another row")
	}
}

func TestBackupCodes(t *testing.T) {
	s, st, _ := newTestService(t)
	ctx := context.Background()
	codes, err := s.backup.Replace(ctx, "alice")
	if err != nil || len(codes) != backup.Count {
		t.Fatalf("replaceBackupCodes = %v, %v", codes, err)
	}
	stored, _ := st.ListCredentials(ctx, "alice", storage.CredentialBackupCode)
	for _, c := range stored {
		for _, code := range codes {
			if string(c.Secret) == code || string(c.Secret) == backup.Normalize(code) {
				t.Fatal("a backup code is stored in the clear")
			}
		}
	}
	step := s.steps["backup"]
	use := func(code string) error {
		_, err := step.Verify(ctx, authn.Attempt{Subject: "alice"}, authn.Input{Code: code})
		return err
	}
	if err := use(" " + codes[3] + " "); err != nil {
		t.Fatalf("backup code: %v", err)
	}
	if err := use(codes[3]); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("backup code used twice: %v", err)
	}
	if err := use("not-a-code"); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("wrong backup code: %v", err)
	}
	if left, _ := st.ListCredentials(ctx, "alice", storage.CredentialBackupCode); len(left) != backup.Count-1 {
		t.Errorf("%d codes left", len(left))
	}
	fresh, err := s.backup.Replace(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := use(codes[4]); !errors.Is(err, authn.ErrAuthFailed) {
		t.Errorf("an old code works after regeneration: %v", err)
	}
	if err := use(fresh[0]); err != nil {
		t.Errorf("new code: %v", err)
	}
}

func TestMFADemand(t *testing.T) {
	tests := []struct {
		name             string
		req              interaction.AuthorizeRequest
		global           bool
		required, wanted bool
	}{
		{"nothing asked", interaction.AuthorizeRequest{ClientID: "c"}, false, false, false},
		{"client requires", interaction.AuthorizeRequest{ClientID: "c", RequireMFA: true}, false, true, true},
		{"server requires", interaction.AuthorizeRequest{ClientID: "c"}, true, true, true},
		{"server requirement is for clients, not the account page", interaction.AuthorizeRequest{}, true, false, false},
		{"acr_values 2fa", interaction.AuthorizeRequest{ClientID: "c", ACRValues: []string{interaction.ACRTwoFactor}}, false, false, true},
		{"acr_values 2fa or 1fa", interaction.AuthorizeRequest{ClientID: "c", ACRValues: []string{interaction.ACRTwoFactor, interaction.ACROneFactor}}, false, false, false},
		{"unknown acr", interaction.AuthorizeRequest{ClientID: "c", ACRValues: []string{"urn:other"}}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w := mfaDemand(tt.req, tt.global)
			if r != tt.required || w != tt.wanted {
				t.Errorf("mfaDemand = %v %v, want %v %v", r, w, tt.required, tt.wanted)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
