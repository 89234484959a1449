package consent

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/authn"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// factorKinds maps amr values (RFC 8176) to the kind of factor they are.
// "user" is only ever recorded when the authenticator verified the user
// (the WebAuthn UV flag), so it counts as a factor of its own.
var factorKinds = map[string]string{
	"pwd": "knowledge", "pin": "knowledge",
	"otp": "possession", "hwk": "possession", "swk": "possession",
	"user": "inherence",
	"fed":  "federated",
	// "email": a link or code sent to the account's address (not an RFC
	// 8176 value): the mailbox, a kind of its own.
	"email": "mailbox",
}

// assurance is the pure policy: the acr earned by a set of amr values and
// the amr to report (with "mfa" when two kinds of factor were used).
//
// An upstream's own amr values (trusted connectors) arrive as "fed:<value>":
// they count only together, as the upstream login being one factor or two.
func assurance(amr []string) (acr string, out []string) {
	kinds, upstream := map[string]bool{}, map[string]bool{}
	for _, m := range amr {
		if v, ok := strings.CutPrefix(m, "fed:"); ok {
			if k, ok := factorKinds[v]; ok && v != "fed" {
				upstream[k] = true
			}
			if v == "mfa" {
				upstream["mfa"] = true
			}
			continue
		}
		if k, ok := factorKinds[m]; ok {
			kinds[k] = true
		}
	}
	if kinds["federated"] && (len(upstream) >= 2 || upstream["mfa"]) {
		kinds["federated-second"] = true // the upstream did two factors
	}
	out = make([]string, 0, len(amr)+1)
	for _, m := range amr {
		m = strings.TrimPrefix(m, "fed:")
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(kinds) >= 2 {
		if !slices.Contains(out, "mfa") {
			out = append(out, "mfa")
		}
		return interaction.ACRTwoFactor, out
	}
	out = slices.DeleteFunc(out, func(m string) bool { return m == "mfa" }) // an upstream's claim we do not count
	return interaction.ACROneFactor, out
}

// reportedAMR is the amr for tokens: with "mfa" when earned.
func reportedAMR(amr []string) []string {
	_, out := assurance(amr)
	return out
}

// policy is the acr a set of amr values earns.
func policy(amr []string) string {
	acr, _ := assurance(amr)
	return acr
}

// mfaDemand says how strongly a request asks for two factors: required
// (the client or the server insists) or wanted (acr_values asks for it and
// accepts nothing weaker; voluntary per OpenID Connect, so a user without a
// second factor still signs in and the ID token's acr tells the truth).
func mfaDemand(req interaction.AuthorizeRequest, global bool) (required, wanted bool) {
	if req.ClientID != "" && (global || req.RequireMFA) {
		return true, true
	}
	wants2, accepts1 := false, false
	for _, v := range req.ACRValues {
		switch v {
		case interaction.ACRTwoFactor:
			wants2 = true
		case interaction.ACROneFactor:
			accepts1 = true
		}
	}
	return false, wants2 && !accepts1
}

// Attempt policies. A password is limited per account (or, from a browser
// that signed in to the account before, per device, so an attacker's
// failures cannot lock the owner out of a known device) and per client
// address; a second factor per account and per address. Addresses get more
// room: many people can share one.
var (
	passwordAccountPolicy = storage.AttemptPolicy{Free: 5, Base: 10 * time.Second, Max: 15 * time.Minute, Window: time.Hour}
	passwordAddressPolicy = storage.AttemptPolicy{Free: 50, Base: 30 * time.Second, Max: 15 * time.Minute, Window: 15 * time.Minute}
)

// passwordKeys are the counters a password attempt for account is charged
// to: the client's address, then the known device or the account.
func (s *engine) passwordKeys(r *http.Request, account string) []attempt.Key {
	keys := []attempt.Key{{Name: "pwd:ip:" + authn.AddressKey(httpx.ClientIP(r)), Policy: passwordAddressPolicy}}
	if device, ok := s.knownDevice(r, account); ok {
		return append(keys, attempt.Key{Name: "pwd:dev:" + device, Policy: passwordAccountPolicy, ResetOnSuccess: true})
	}
	return append(keys, attempt.Key{Name: "pwd:acct:" + account, Policy: passwordAccountPolicy, ResetOnSuccess: true})
}
