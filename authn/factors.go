package authn

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Attempt policies of second factors: per account and per address
// (addresses get more room: many people can share one).
var (
	factorAccountPolicy = storage.AttemptPolicy{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Window: time.Hour}
	factorAddressPolicy = storage.AttemptPolicy{Free: 50, Base: 30 * time.Second, Max: 15 * time.Minute, Window: 15 * time.Minute}
)

// FactorKeys are the counters a second-factor attempt from address ip is
// charged to: the address (by AddressKey) and the account.
func FactorKeys(ip, subject string) []attempt.Key {
	return []attempt.Key{
		{Name: "mfa:ip:" + AddressKey(ip), Policy: factorAddressPolicy},
		{Name: "mfa:acct:" + subject, Policy: factorAccountPolicy, ResetOnSuccess: true},
	}
}

// AddressKey is what an address is counted as: an IPv4 address itself, an
// IPv6 address by its /64 (one subscriber's network: an attacker there can
// use as many addresses as it likes).
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// SecondFactors lists the second-factor methods a user has: "otp",
// "passkey" and, when one of those exists, "backup"; and how many backup
// codes are left.
func SecondFactors(ctx context.Context, st interface {
	ListCredentials(ctx context.Context, subject string, typ storage.CredentialType) ([]storage.Credential, error)
}, subject string) (methods []string, backups int, err error) {
	creds, err := st.ListCredentials(ctx, subject, "")
	if err != nil {
		return nil, 0, err
	}
	for _, c := range creds {
		switch c.Type {
		case storage.CredentialTOTP:
			methods = append(methods, "otp")
		case storage.CredentialWebAuthn:
			if !slices.Contains(methods, "passkey") {
				methods = append(methods, "passkey")
			}
		case storage.CredentialBackupCode:
			backups++
		}
	}
	if len(methods) > 0 && backups > 0 {
		methods = append(methods, "backup")
	}
	return methods, backups, nil
}
