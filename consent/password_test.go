package consent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestEveryLoginCostsOneHash: an unknown email, an account without a
// password (federated or passkey only), a disabled account and a wrong
// password all compute one argon2id hash, like a right password, so the
// answer's timing does not tell them apart.
func TestEveryLoginCostsOneHash(t *testing.T) {
	s, st, clk := newTestService(t)
	ctx := context.Background()
	h, err := password.Hash("right password")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []storage.User{
		{Subject: "pw", Email: "pw@example.test", PasswordHash: h},
		{Subject: "off", Email: "off@example.test", PasswordHash: h, Disabled: true},
	} {
		u.CreatedAt, u.UpdatedAt = clk.t, clk.t
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, email, password string
		ok                    bool
	}{
		{"right password", "pw@example.test", "right password", true},
		{"wrong password", "pw@example.test", "wrong password", false},
		{"unknown email", "nobody@example.test", "right password", false},
		{"account without a password", "alice@example.test", "right password", false},
		{"disabled account", "off@example.test", "right password", false},
		{"empty password", "pw@example.test", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.passwordCount()
			_, err := s.pwd.Authenticate(ctx, tt.email, tt.password)
			if (err == nil) != tt.ok {
				t.Fatalf("authenticatePassword = %v, want ok=%v", err, tt.ok)
			}
			if n := s.passwordCount() - before; n != 1 {
				t.Fatalf("%d password hashes computed, want exactly 1", n)
			}
		})
	}
}

func TestLoginPageWritesNothing(t *testing.T) {
	s, st, _ := newTestService(t)
	mux := http.NewServeMux()
	s.Register(mux)
	dec, err := s.newFlow(context.Background(), StateLogin, flowData{Request: interaction.AuthorizeRequest{MaxAge: -1}, Return: PathAccount})
	if err != nil {
		t.Fatal(err)
	}
	var writes []string
	st.Trace(func(q string) {
		if f := strings.Fields(q); len(f) > 0 && (f[0] == "INSERT" || f[0] == "UPDATE" || f[0] == "DELETE") {
			writes = append(writes, q)
		}
	})
	defer st.Trace(nil)
	for i := 0; i < 5; i++ {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, dec.RedirectTo, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="ceremony"`) {
			t.Fatalf("login page: %d", w.Code)
		}
	}
	if len(writes) > 0 {
		t.Fatalf("showing the login page wrote: %v", writes)
	}
}

func (s *testEngine) passwordCount() int64 { n, _ := s.passwords.Counts(); return n }
