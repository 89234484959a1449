package ops

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Roles an admin key can carry. admin may do everything; a write role
// includes the read role of the same resource.
const (
	RoleAdmin        = "admin"
	RoleClientsWrite = "clients:write"
	RoleClientsRead  = "clients:read"
	RoleUsersWrite   = "users:write"
	RoleUsersRead    = "users:read"
	// RoleMetricsRead may read /metrics only (a Prometheus scraper's key).
	RoleMetricsRead = "metrics:read"
)

// Roles lists every role.
var Roles = []string{RoleAdmin, RoleClientsWrite, RoleClientsRead, RoleUsersWrite, RoleUsersRead, RoleMetricsRead}

// KeyPrefix starts every admin API key.
const KeyPrefix = "gh_"

// AdminKeys issues and revokes admin API keys.
type AdminKeys struct {
	st  storage.AdminKeyStore
	rec recorder
	now func() time.Time
}

// Create makes an admin key, gh_<id>_<secret> with 256 random bits,
// returned once and stored as its SHA-256.
func (k *AdminKeys) Create(ctx context.Context, a Actor, name string, roles []string) (string, storage.AdminKey, error) {
	if strings.TrimSpace(name) == "" {
		return "", storage.AdminKey{}, InvalidInput("an admin key needs a name")
	}
	if len(roles) == 0 {
		return "", storage.AdminKey{}, InvalidInput(fmt.Sprintf("an admin key needs at least one role (%s)", strings.Join(Roles, ", ")))
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return "", storage.AdminKey{}, InvalidInput(fmt.Sprintf("unknown role %q (use %s)", r, strings.Join(Roles, ", ")))
		}
	}
	id := httpx.RandomID(8)
	plain := KeyPrefix + id + "_" + httpx.RandomString(32)
	h := sha256.Sum256([]byte(plain))
	key := storage.AdminKey{ID: id, Hash: h[:], Name: name, Roles: roles, CreatedAt: k.now().UTC()}
	err := k.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "admin_key.created", details: map[string]string{"key": id, "name": name, "roles": strings.Join(roles, " ")}},
			k.st.CreateAdminKey(ctx, key)
	})
	return plain, key, err
}

// List returns every admin key (revoked ones too), never a secret.
func (k *AdminKeys) List(ctx context.Context) ([]storage.AdminKey, error) {
	return k.st.ListAdminKeys(ctx)
}

// Revoke ends an admin key at once.
func (k *AdminKeys) Revoke(ctx context.Context, a Actor, id string) error {
	return k.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "admin_key.revoked", details: map[string]string{"key": id}}, k.st.RevokeAdminKey(ctx, id, k.now().UTC())
	})
}
