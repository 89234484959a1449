package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/consent"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

func (a *API) listClients(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	all, err := a.o.Store.ListClients(r.Context())
	writePage(a, w, r, all, err, func(c storage.Client) string { return c.ID }, func(c storage.Client) any { return provider.View(c, "") })
}

// writePage answers a list request with one page of views and the cursor of
// the next page (items must be sorted by their cursor key).
func writePage[T any](a *API, w http.ResponseWriter, r *http.Request, all []T, err error, key func(T) string, view func(T) any) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items, next, err := page(r, all, key)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	views := make([]any, 0, len(items))
	for _, it := range items {
		views = append(views, view(it))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": views, "next_cursor": next})
}

// newClient is a registration by an operator, who may also mark it
// first-party, name its owner and require two factors for it.
type newClient struct {
	provider.ClientSpec
	FirstParty bool   `json:"first_party"`
	Owner      string `json:"owner"`
	RequireMFA bool   `json:"require_mfa"`
}

func (in *newClient) spec(id string) provider.ClientSpec {
	s := in.ClientSpec
	s.ID, s.FirstParty, s.Owner, s.RequireMFA = id, in.FirstParty, in.Owner, in.RequireMFA
	return s
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in newClient
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	c, secret, err := in.spec("").Build(a.o.EnabledAlgs, a.o.Now().UTC())
	if err == nil && a.o.Sectors != nil {
		err = in.spec("").VerifySector(r.Context(), a.o.Sectors)
	}
	if err != nil {
		var me *provider.MetadataError
		if errors.As(err, &me) {
			writeError(w, http.StatusBadRequest, me.Code, me.Description)
			return
		}
		a.fail(w, r, err)
		return
	}
	if err := a.o.Store.CreateClient(r.Context(), c); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "client.created", "", c.ID, nil)
	writeJSON(w, http.StatusCreated, provider.View(c, secret))
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	c, err := a.o.Store.GetClient(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, provider.View(c, ""))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	id := r.PathValue("id")
	if err := a.o.Store.DeleteClient(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "client.deleted", "", id, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	grace := 24 * time.Hour
	if v := r.URL.Query().Get("grace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			a.fail(w, r, badRequest("grace must be a duration such as 24h"))
			return
		}
		grace = d
	}
	id := r.PathValue("id")
	secret, c, err := provider.RotateClientSecret(r.Context(), a.o.Store, id, grace, a.o.Now().UTC())
	if errors.Is(err, provider.ErrNoSecret) {
		a.fail(w, r, badRequest(err.Error()))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "client.secret_rotated", "", id, map[string]string{"grace": grace.String()})
	out := map[string]any{"client_id": id, "client_secret": secret}
	if !c.PreviousSecretExpiresAt.IsZero() {
		out["previous_secret_expires_at"] = c.PreviousSecretExpiresAt.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// userView is a user as the API shows it: never the password hash.
type userView struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Disabled      bool   `json:"disabled"`
	// SecondFactor: the user has an authenticator app or a passkey.
	SecondFactor bool  `json:"second_factor"`
	CreatedAt    int64 `json:"created_at"`
	UpdatedAt    int64 `json:"updated_at"`
	// GivenName, FamilyName and Profile are the standard claims.
	GivenName  string          `json:"given_name,omitempty"`
	FamilyName string          `json:"family_name,omitempty"`
	Profile    storage.Profile `json:"profile"`
}

func viewUser(u storage.User) userView {
	return userView{Subject: u.Subject, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Disabled: u.Disabled,
		SecondFactor: u.SecondFactor, CreatedAt: u.CreatedAt.Unix(), UpdatedAt: u.UpdatedAt.Unix(), GivenName: u.GivenName, FamilyName: u.FamilyName,
		Profile: u.Profile}
}

// resetFactors removes a user's passkeys, authenticator app and backup
// codes (a user who lost them all) and signs the user out everywhere; the
// next sign-in is with the password (or a linked account), and the user
// sets up new factors on the account page.
func (a *API) resetFactors(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	ctx := r.Context()
	sub := r.PathValue("sub")
	u, err := a.o.Store.GetUser(ctx, sub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	removed, err := consent.ResetFactors(ctx, a.o.Store, sub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(ctx, r, key, "user.factors_reset", sub, "", map[string]string{"removed": strconv.FormatInt(removed, 10)})
	u.SecondFactor = false
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	all, err := a.o.Store.ListUsers(r.Context())
	writePage(a, w, r, all, err, func(u storage.User) string { return u.Email }, func(u storage.User) any { return viewUser(u) })
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if !strings.Contains(in.Email, "@") {
		a.fail(w, r, badRequest("email is not an email address"))
		return
	}
	hash, err := consent.HashPassword(in.Password)
	if err != nil {
		a.fail(w, r, badRequest(err.Error()))
		return
	}
	now := a.o.Now().UTC()
	u := storage.User{Subject: httpx.RandomID(16), Email: strings.ToLower(strings.TrimSpace(in.Email)), EmailVerified: true, Name: in.Name,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := a.o.Store.CreateUser(r.Context(), u); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.created", u.Subject, "", nil)
	writeJSON(w, http.StatusCreated, viewUser(u))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	u, err := a.o.Store.GetUser(r.Context(), r.PathValue("sub"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	sub := r.PathValue("sub")
	if err := a.o.Store.DeleteUser(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.deleted", sub, "", nil)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	hash, err := consent.HashPassword(in.Password)
	if err != nil {
		a.fail(w, r, badRequest(err.Error()))
		return
	}
	sub := r.PathValue("sub")
	if _, err := consent.SetPassword(r.Context(), a.o.Store, sub, hash, nil, a.o.Now()); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.password_set", sub, "", nil)
	w.WriteHeader(http.StatusNoContent)
}

// setProfile replaces a user's name and standard claims.
func (a *API) setProfile(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in consent.ProfileUpdate
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	sub := r.PathValue("sub")
	u, err := consent.SetProfile(r.Context(), a.o.Store, sub, in, a.o.Now())
	if errors.Is(err, consent.ErrInvalidProfile) {
		a.fail(w, r, badRequest(err.Error()))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.profile_set", sub, "", nil)
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a *API) setDisabled(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decode(r, &in); err != nil || in.Disabled == nil {
		a.fail(w, r, badRequest(`the body must be {"disabled": true|false}`))
		return
	}
	sub := r.PathValue("sub")
	u, err := consent.SetDisabled(r.Context(), a.o.Store, sub, *in.Disabled, a.o.Now()) // disabling signs out and revokes tokens
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.disabled_set", sub, "", map[string]string{"disabled": map[bool]string{true: "true", false: "false"}[*in.Disabled]})
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	list, err := a.o.Store.ListSessions(r.Context(), r.PathValue("sub"), a.o.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		out = append(out, map[string]any{"sid": s.SID, "auth_time": s.AuthTime.Unix(), "amr": s.AMR, "created_at": s.CreatedAt.Unix(), "expires_at": s.ExpiresAt.Unix()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	sub := r.PathValue("sub")
	n, err := a.o.Store.DeleteSessions(r.Context(), sub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.sessions_revoked", sub, "", nil)
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	infos, err := a.o.Keys.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(infos))
	unix := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Unix()
	}
	for _, k := range infos {
		out = append(out, map[string]any{"kid": k.ID, "alg": k.Alg, "generation": k.Generation, "state": k.State,
			"activate_at": unix(k.ActivateAt), "retire_at": unix(k.RetireAt), "delete_at": unix(k.DeleteAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Alg string `json:"alg"`
		Now bool   `json:"now"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Alg == "" {
		in.Alg = keys.RS256
	}
	kid, err := a.o.Keys.Rotate(r.Context(), in.Alg, in.Now)
	if err != nil {
		if strings.Contains(err.Error(), "not enabled") {
			a.fail(w, r, badRequest(err.Error()))
			return
		}
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "key.rotated", "", "", map[string]string{"kid": kid, "alg": in.Alg})
	writeJSON(w, http.StatusCreated, map[string]any{"kid": kid, "alg": in.Alg})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	events, err := a.o.Store.ListAudit(r.Context(), r.URL.Query().Get("subject"), time.Time{}, 200)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": events})
}

// listGrants lists the apps a user has remembered consent for.
func (a *API) listGrants(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	list, err := a.o.Store.ListConsents(r.Context(), r.PathValue("sub"), a.o.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		out = append(out, map[string]any{"client_id": c.ClientID, "scope": strings.Join(c.Scopes, " "), "created_at": c.CreatedAt.Unix(), "expires_at": c.ExpiresAt.Unix()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// revokeGrant forgets the consent and revokes every token the client holds
// for the user.
func (a *API) revokeGrant(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	sub, client := r.PathValue("sub"), r.PathValue("client")
	if err := a.o.Store.DeleteConsent(r.Context(), sub, client); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.o.Store.DeleteTokensOf(r.Context(), sub, client)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "user.grant_revoked", sub, client, nil)
	writeJSON(w, http.StatusOK, map[string]any{"revoked_tokens": n})
}

// updateClient replaces a client's registration; the id, the secret and
// the creation time stay.
func (a *API) updateClient(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in newClient
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	nc, secret, err := in.spec(id).Build(a.o.EnabledAlgs, a.o.Now().UTC())
	if err == nil && a.o.Sectors != nil {
		err = in.spec(id).VerifySector(r.Context(), a.o.Sectors)
	}
	if err != nil {
		var me *provider.MetadataError
		if errors.As(err, &me) {
			writeError(w, http.StatusBadRequest, me.Code, me.Description)
			return
		}
		a.fail(w, r, err)
		return
	}
	updated, err := a.o.Store.UpdateClient(r.Context(), id, func(old storage.Client) (storage.Client, error) {
		next, shown := provider.Replace(old, nc, secret)
		secret = shown
		return next, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r.Context(), r, key, "client.updated", "", id, nil)
	writeJSON(w, http.StatusOK, provider.View(updated, secret))
}
