package clientspec

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestReplace(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	graceEnd := created.Add(time.Hour)
	confidential := storage.Client{ID: "c", CreatedAt: created, SecretHash: []byte("old"), PreviousSecretHash: []byte("older"),
		PreviousSecretExpiresAt: graceEnd, RegistrationTokenHash: "rat"}
	public := storage.Client{ID: "c", CreatedAt: created, Public: true}
	tests := []struct {
		name       string
		old, nc    storage.Client
		built      string // the secret Build generated for nc
		wantSecret string
		wantHash   string
		wantPrev   string
	}{
		{"confidential stays confidential: secret and rotation kept", confidential,
			storage.Client{ID: "x", SecretHash: []byte("new"), CreatedAt: created.Add(time.Hour)}, "fresh", "", "old", "older"},
		{"public becomes confidential: the new secret is shown", public,
			storage.Client{SecretHash: []byte("new")}, "fresh", "fresh", "new", ""},
		{"confidential becomes public: no secret", confidential,
			storage.Client{Public: true}, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, shown := Replace(tt.old, tt.nc, tt.built)
			if shown != tt.wantSecret {
				t.Errorf("shown secret %q, want %q", shown, tt.wantSecret)
			}
			if string(got.SecretHash) != tt.wantHash || string(got.PreviousSecretHash) != tt.wantPrev {
				t.Errorf("secret hash %q previous %q", got.SecretHash, got.PreviousSecretHash)
			}
			if got.ID != "c" || !got.CreatedAt.Equal(created) || got.RegistrationTokenHash != tt.old.RegistrationTokenHash {
				t.Errorf("identity not kept: %+v", got)
			}
		})
	}
}
