package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// PathActivity is the page of a user's sessions and connected apps.
const PathActivity = "/account/activity"

// ActivityStore is what the sessions-and-apps page needs.
type ActivityStore interface {
	GetUser(ctx context.Context, subject string) (storage.User, error)
	GetClient(ctx context.Context, id string) (storage.Client, error)
	ListSessions(ctx context.Context, subject string, now time.Time) ([]storage.BrowserSession, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	ListConsents(ctx context.Context, subject string, now time.Time) ([]storage.Consent, error)
	LastTokenUse(ctx context.Context, subject string) (map[string]time.Time, error)
	GrantStore
	storage.Revoker
}

// ActivityOptions configure the sessions-and-apps page.
type ActivityOptions struct {
	Web    *web.Kit
	Store  ActivityStore
	SignIn SignIn
	// ReauthenticateAfter is how old a login may be for changes.
	ReauthenticateAfter time.Duration
	Log                 *slog.Logger
	Now                 func() time.Time
}

// Activity shows where a user is signed in and which apps hold access,
// and ends either: one session, every session and token, one app's access,
// or this browser's session (sign out).
type Activity struct{ o ActivityOptions }

// NewActivity returns the sessions-and-apps page.
func NewActivity(o ActivityOptions) *Activity {
	if o.ReauthenticateAfter <= 0 {
		o.ReauthenticateAfter = 5 * time.Minute
	}
	return &Activity{o: o}
}

// Register mounts the page and its actions.
func (a *Activity) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathActivity, a.page)
	mux.HandleFunc("POST "+PathActivity+"/sessions/remove", a.removeSession)
	mux.HandleFunc("POST "+PathActivity+"/sessions/remove-all", a.removeAll)
	mux.HandleFunc("POST "+PathActivity+"/apps/remove", a.removeApp)
	mux.HandleFunc("POST "+Path+"/sign-out", a.signOut)
}

type sessionView struct {
	SID, Since, SignedIn, How string
	Current                   bool
}

type appView struct {
	ClientID, Name, Scopes, Since, LastUsed string
}

type activityView struct {
	CSRF, Email, Notice string
	Fresh               bool
	Sessions            []sessionView
	Apps                []appView
}

func (a *Activity) csrf(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession) string {
	return a.o.Web.CSRFToken(w, r, "activity\x00"+bs.SID)
}

func (a *Activity) page(w http.ResponseWriter, r *http.Request) {
	bs, ok, err := a.o.Web.Session(r.Context(), r)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	if !ok {
		a.o.SignIn.SignIn(w, r, PathActivity, nil, "")
		return
	}
	a.render(w, r, bs, "")
}

func (a *Activity) render(w http.ResponseWriter, r *http.Request, bs storage.BrowserSession, notice string) {
	ctx := r.Context()
	now := a.o.Now()
	u, err := a.o.Store.GetUser(ctx, bs.Subject)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	sessions, err := a.o.Store.ListSessions(ctx, bs.Subject, now)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	consents, err := a.o.Store.ListConsents(ctx, bs.Subject, now)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	used, err := a.o.Store.LastTokenUse(ctx, bs.Subject)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	v := activityView{CSRF: a.csrf(w, r, bs), Email: u.Email, Notice: notice, Fresh: now.Sub(bs.AuthTime) <= a.o.ReauthenticateAfter}
	const when = "2 Jan 2006 15:04 MST"
	for _, s := range sessions {
		v.Sessions = append(v.Sessions, sessionView{SID: s.SID, Since: s.CreatedAt.UTC().Format(when), SignedIn: s.AuthTime.UTC().Format(when),
			How: strings.Join(s.AMR, ", "), Current: s.SID == bs.SID})
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := a.o.Store.GetClient(ctx, c.ClientID); err == nil && cl.Name != "" {
			name = cl.Name
		}
		last := "not since"
		if t, ok := used[c.ClientID]; ok {
			last = t.UTC().Format(when)
		}
		v.Apps = append(v.Apps, appView{ClientID: c.ClientID, Name: name, Scopes: strings.Join(c.Scopes, " "), Since: c.CreatedAt.UTC().Format(when), LastUsed: last})
	}
	a.o.Web.Render(w, r, http.StatusOK, "activity", v)
}

// form reads a change: a session, its CSRF token and a recent login. It
// answers itself when it returns false.
func (a *Activity) form(w http.ResponseWriter, r *http.Request) (storage.BrowserSession, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.o.Web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return storage.BrowserSession{}, false
	}
	bs, ok, err := a.o.Web.Session(r.Context(), r)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return bs, false
	}
	if !ok || !a.o.Web.CheckCSRF(r, "activity\x00"+bs.SID) {
		a.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return bs, false
	}
	if a.o.Now().Sub(bs.AuthTime) > a.o.ReauthenticateAfter {
		a.o.Web.ErrorPage(w, r, http.StatusForbidden, "Confirm it is you", "Ending sessions and removing apps' access needs a recent sign-in. Go back to your account page and sign in again.")
		return bs, false
	}
	return bs, true
}

// removeSession signs one of the user's sessions out (this one too, when
// it is named).
func (a *Activity) removeSession(w http.ResponseWriter, r *http.Request) {
	bs, ok := a.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sid := r.PostForm.Get("sid")
	sessions, err := a.o.Store.ListSessions(ctx, bs.Subject, a.o.Now())
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	for _, s := range sessions {
		if s.SID != sid || sid == "" {
			continue
		}
		if err := a.o.Store.DeleteSession(ctx, s.IDHash); err != nil && !errors.Is(err, storage.ErrNotFound) {
			a.o.Web.Fail(w, r, err)
			return
		}
		a.o.Web.Audit(ctx, r, "session.revoked", bs.Subject, "", map[string]string{"sid": sid})
		if sid == bs.SID {
			a.o.Web.SignedOut(w, r, "This browser is signed out.", []storage.BrowserSession{s})
			return
		}
		a.render(w, r, bs, "That session was signed out.")
		return
	}
	a.render(w, r, bs, "No such session: it may have ended already.")
}

// removeAll signs the user out everywhere, this browser included, and
// revokes every token the user's apps hold.
func (a *Activity) removeAll(w http.ResponseWriter, r *http.Request) {
	bs, ok := a.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	// Read first for the front-channel frames: a session that starts
	// meanwhile ends too and is told by the back channel only.
	ending, err := a.o.Store.ListSessions(ctx, bs.Subject, a.o.Now())
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	sessions, tokens, err := a.o.Store.RevokeSubject(ctx, bs.Subject, nil)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	a.o.Web.Audit(ctx, r, "user.signed_out_everywhere", bs.Subject, "", map[string]string{"sessions": itoa(sessions), "tokens": itoa(tokens)})
	a.o.Web.SignedOut(w, r, "You are signed out everywhere: every session ended, and every app must sign you in again.", ending)
}

// removeApp forgets the user's consent to an app and revokes its tokens.
func (a *Activity) removeApp(w http.ResponseWriter, r *http.Request) {
	bs, ok := a.form(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	client := r.PostForm.Get("client_id")
	n, err := RevokeGrant(ctx, a.o.Store, bs.Subject, client)
	if errors.Is(err, storage.ErrNotFound) {
		a.render(w, r, bs, "That app has no access.")
		return
	}
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	a.o.Web.Audit(ctx, r, "user.grant_revoked", bs.Subject, client, map[string]string{"tokens": itoa(n)})
	a.render(w, r, bs, "The app no longer has access; it asks again next time.")
}

// signOut ends this browser's session (no recent login needed).
func (a *Activity) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.o.Web.ErrorPage(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	bs, ok, err := a.o.Web.Session(r.Context(), r)
	if err != nil {
		a.o.Web.Fail(w, r, err)
		return
	}
	if ok && !a.o.Web.CheckCSRF(r, "activity\x00"+bs.SID) && !a.o.Web.CheckCSRF(r, "account\x00"+bs.SID) {
		a.o.Web.ErrorPage(w, r, http.StatusForbidden, "Your session has expired", "The form was not submitted from this site or is too old. Go back and try again.")
		return
	}
	var ended []storage.BrowserSession
	if ok {
		if _, _, err := a.o.Web.EndSession(r.Context(), w, r); err != nil {
			a.o.Web.Fail(w, r, err)
			return
		}
		a.o.Web.Audit(r.Context(), r, "logout", bs.Subject, "", map[string]string{"sid": bs.SID})
		ended = append(ended, bs)
	}
	a.o.Web.SignedOut(w, r, "This browser is signed out.", ended)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
