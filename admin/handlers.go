package admin

import (
	"cmp"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/keys"
	"github.com/gatehouse-id/gatehouse/storage"
)

func (a *API) listClients(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	all, err := a.o.Ops.Clients.List(r.Context())
	writePage(a, w, r, all, err, func(c storage.Client) string { return c.ID }, func(c storage.Client) any { return clientspec.View(c, "") })
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
	clientspec.Spec
	FirstParty bool   `json:"first_party"`
	Owner      string `json:"owner"`
	RequireMFA bool   `json:"require_mfa"`
}

func (in *newClient) spec(id string) clientspec.Spec {
	s := in.Spec
	s.ID, s.FirstParty, s.Owner, s.RequireMFA = id, in.FirstParty, in.Owner, in.RequireMFA
	return s
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in newClient
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	c, secret, err := a.o.Ops.Clients.Create(r.Context(), actor(r, key), in.spec(""))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, clientspec.View(c, secret))
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	c, err := a.o.Ops.Clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clientspec.View(c, ""))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	if err := a.o.Ops.Clients.Delete(r.Context(), actor(r, key), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
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
	secret, c, err := a.o.Ops.Clients.RotateSecret(r.Context(), actor(r, key), id, grace)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := map[string]any{"client_id": id, "client_secret": secret}
	if !c.PreviousSecretExpiresAt.IsZero() {
		out["previous_secret_expires_at"] = c.PreviousSecretExpiresAt.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// userRoutes are the handlers of users, their sessions and their grants.
type userRoutes struct{ *API }

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
func (a userRoutes) resetFactors(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	u, _, err := a.o.Ops.Users.ResetFactors(r.Context(), actor(r, key), r.PathValue("sub"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a userRoutes) listUsers(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	all, err := a.o.Ops.Users.List(r.Context())
	writePage(a.API, w, r, all, err, func(u storage.User) string { return u.Email }, func(u storage.User) any { return viewUser(u) })
}

func (a userRoutes) createUser(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.o.Ops.Users.Create(r.Context(), actor(r, key), in.Email, in.Name, in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewUser(u))
}

func (a userRoutes) getUser(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	u, err := a.o.Ops.Users.Get(r.Context(), r.PathValue("sub"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a userRoutes) deleteUser(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	if err := a.o.Ops.Users.Delete(r.Context(), actor(r, key), r.PathValue("sub")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a userRoutes) setPassword(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.o.Ops.Users.SetPassword(r.Context(), actor(r, key), r.PathValue("sub"), in.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setProfile replaces a user's name and standard claims.
func (a userRoutes) setProfile(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in account.ProfileUpdate
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.o.Ops.Users.SetProfile(r.Context(), actor(r, key), r.PathValue("sub"), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a userRoutes) setDisabled(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decode(r, &in); err != nil || in.Disabled == nil {
		a.fail(w, r, badRequest(`the body must be {"disabled": true|false}`))
		return
	}
	u, err := a.o.Ops.Users.SetDisabled(r.Context(), actor(r, key), r.PathValue("sub"), *in.Disabled) // disabling signs out and revokes tokens
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (a userRoutes) listSessions(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	list, err := a.o.Ops.Sessions.List(r.Context(), r.PathValue("sub"))
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

func (a userRoutes) revokeSessions(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	n, err := a.o.Ops.Sessions.Revoke(r.Context(), actor(r, key), r.PathValue("sub"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	infos, err := a.o.Ops.Keys.List(r.Context())
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
	kid, err := a.o.Ops.Keys.Rotate(r.Context(), actor(r, key), in.Alg, in.Now)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"kid": kid, "alg": cmp.Or(in.Alg, keys.RS256)})
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	events, err := a.o.Ops.Audit.List(r.Context(), r.URL.Query().Get("subject"), 200)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": events})
}

// listGrants lists the apps a user has remembered consent for.
func (a userRoutes) listGrants(w http.ResponseWriter, r *http.Request, _ storage.AdminKey) {
	list, err := a.o.Ops.Sessions.Grants(r.Context(), r.PathValue("sub"))
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
func (a userRoutes) revokeGrant(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	n, err := a.o.Ops.Sessions.RevokeGrant(r.Context(), actor(r, key), r.PathValue("sub"), r.PathValue("client"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
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
	updated, secret, err := a.o.Ops.Clients.Update(r.Context(), actor(r, key), id, func(s *clientspec.Spec) error {
		*s = in.spec(id)
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clientspec.View(updated, secret))
}

// sendRecovery mails the user a password-recovery link (a forced reset).
func (a userRoutes) sendRecovery(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	a.queued(w, r, a.o.Ops.Users.SendRecovery(r.Context(), actor(r, key), r.PathValue("sub")))
}

// sendVerification mails the user a new link confirming its address.
func (a userRoutes) sendVerification(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	a.queued(w, r, a.o.Ops.Users.SendVerification(r.Context(), actor(r, key), r.PathValue("sub")))
}

func (a userRoutes) queued(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}

// invite makes an account without a password and mails it a link to
// choose one.
func (a userRoutes) invite(w http.ResponseWriter, r *http.Request, key storage.AdminKey) {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.o.Ops.Users.Invite(r.Context(), actor(r, key), in.Email, in.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewUser(u))
}
