// Package web is what gatehouse's own pages share, the sign-in flow's
// (package consent) and the account pages' (package account) alike:
// rendering a page and the error page, mapping an error to a page once,
// CSRF tokens, the browser session cookie, the audit writer, and
// ceremonies (single-use server-side state bound to a session or a flow).
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/attempt"
	"github.com/gatehouse-id/gatehouse/internal/frontchannel"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// BadCode is the one message for every wrong second-factor code.
const BadCode = "That code did not work. Check it and try again."

// MaxFormBytes bounds every form body.
const MaxFormBytes = 64 << 10

// ErrWrongState is a flow or ceremony that is not in the state a request
// expects (used, expired, another session's): the page has expired.
var ErrWrongState = errors.New("flow is not in the expected state")

// Store is what the pages' shared parts need: browser sessions, the audit
// log and the rows ceremonies are kept in.
type Store interface {
	CreateSession(ctx context.Context, s storage.BrowserSession) error
	GetSession(ctx context.Context, idHash []byte, now time.Time) (storage.BrowserSession, error)
	DeleteSession(ctx context.Context, idHash []byte) error
	RenewSession(ctx context.Context, oldHash []byte, bs storage.BrowserSession) error
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
	CountAudit(ctx context.Context, e storage.AuditEvent) error
	CreateFlow(ctx context.Context, f storage.Flow) error
	GetFlow(ctx context.Context, id string, now time.Time) (storage.Flow, error)
	UpdateFlow(ctx context.Context, id string, now time.Time, fn func(storage.Flow) (storage.Flow, error)) (storage.Flow, error)
}

// Options configure a Kit.
type Options struct {
	Store Store
	Pages *templates.Renderer
	// CSRFKey keys the HMAC that binds CSRF tokens to a browser and a
	// purpose (a flow, the account page).
	CSRFKey []byte
	// Secure marks cookies Secure and gives them the __Host- prefix.
	Secure bool
	// SessionLifetime is how long a browser session lasts.
	SessionLifetime time.Duration
	// Issuer and Clients name the front-channel logout frames of the
	// signed-out page (no Clients: none).
	Issuer  string
	Clients frontchannel.Clients
	Log     *slog.Logger
	Now     func() time.Time
}

// Kit is the shared part of every page.
type Kit struct {
	o                                       Options
	sessionCookie, csrfCookie, deviceCookie string
}

// New returns a Kit.
func New(o Options) *Kit {
	k := &Kit{o: o, sessionCookie: "gatehouse_session", csrfCookie: "gatehouse_csrf", deviceCookie: "gatehouse_device"}
	if o.Secure {
		k.sessionCookie, k.csrfCookie, k.deviceCookie = "__Host-gatehouse_session", "__Host-gatehouse_csrf", "__Host-gatehouse_device"
	}
	return k
}

// Now is the Kit's clock.
func (k *Kit) Now() time.Time { return k.o.Now() }

// Render writes a page.
func (k *Kit) Render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	if err := k.o.Pages.Render(w, status, page, httpx.Nonce(r.Context()), data); err != nil {
		k.o.Log.Error("render", "page", page, "err", err)
	}
}

// ErrorPage writes the error page.
func (k *Kit) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	k.Render(w, r, status, "error", map[string]string{"Title": title, "Message": msg, "RequestID": w.Header().Get("X-Request-Id")})
}

// Fail maps an error to a page once: expired flows, storage outages, a
// busy password hasher, and everything else as a logged 500 without
// details.
func (k *Kit) Fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, ErrWrongState), errors.Is(err, storage.ErrConflict):
		k.ErrorPage(w, r, http.StatusBadRequest, "This sign-in page has expired",
			"Go back to the application and start again.")
	case errors.Is(err, storage.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		k.ErrorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again in a moment.")
	case errors.Is(err, password.ErrBusy):
		w.Header().Set("Retry-After", "1")
		k.ErrorPage(w, r, http.StatusServiceUnavailable, "Busy", "Too many sign-ins at once. Please try again in a moment.")
	case errors.Is(err, context.Canceled):
		k.o.Log.Info("consent: the client went away", "path", r.URL.Path, "request_id", httpx.RequestID(r.Context()))
	default:
		k.o.Log.Error("consent", "path", r.URL.Path, "request_id", httpx.RequestID(r.Context()), "err", err)
		k.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request.")
	}
}

// TooManyAttempts answers a limited attempt: 429 with Retry-After (the
// caller renders the page).
func TooManyAttempts(w http.ResponseWriter, err error) {
	wait := time.Second
	var le *attempt.LimitedError
	if errors.As(err, &le) {
		wait = le.RetryAfter
	}
	w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+0.999)))
}

// GiveBack returns an attempt reservation; a failure to do so only costs
// the user one counted attempt, so it is logged, not shown.
func (k *Kit) GiveBack(ctx context.Context, release func(context.Context) error) {
	if err := release(ctx); err != nil {
		k.o.Log.Warn("attempt not given back", "request_id", httpx.RequestID(ctx), "err", err)
	}
}

// CSRFToken returns the browser's CSRF token for a purpose, setting the
// CSRF cookie when the browser has none.
func (k *Kit) CSRFToken(w http.ResponseWriter, r *http.Request, purpose string) string {
	v := ""
	if c, err := r.Cookie(k.csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 128 {
		v = c.Value
	} else {
		v = httpx.RandomString(32)
		http.SetCookie(w, &http.Cookie{Name: k.csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: k.o.Secure, SameSite: http.SameSiteLaxMode})
	}
	return k.csrfFor(v, purpose)
}

func (k *Kit) csrfFor(cookie, purpose string) string {
	m := hmac.New(sha256.New, k.o.CSRFKey)
	m.Write([]byte("csrf\x00" + cookie + "\x00" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF verifies the submitted token in constant time.
func (k *Kit) CheckCSRF(r *http.Request, purpose string) bool {
	c, err := r.Cookie(k.csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	got := r.PostForm.Get("csrf_token")
	return got != "" && hmac.Equal([]byte(got), []byte(k.csrfFor(c.Value, purpose)))
}

// BrowserHash binds server-side state to this browser: a hash of its CSRF
// cookie (nil when it has none).
func (k *Kit) BrowserHash(r *http.Request) []byte {
	c, err := r.Cookie(k.csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return nil
	}
	h := sha256.Sum256([]byte("browser\x00" + c.Value))
	return h[:]
}

// DeviceCookie names the cookie that remembers devices that signed in.
func (k *Kit) DeviceCookie() string { return k.deviceCookie }

// HashID is how session ids are stored: SHA-256 of the cookie value.
func HashID(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// Session returns the browser's valid session, if any.
func (k *Kit) Session(ctx context.Context, r *http.Request) (storage.BrowserSession, bool, error) {
	c, err := r.Cookie(k.sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return storage.BrowserSession{}, false, nil
	}
	bs, err := k.o.Store.GetSession(ctx, HashID(c.Value), k.o.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return bs, false, nil
	}
	if err != nil {
		return bs, false, err
	}
	return bs, true, nil
}

// StartSession records a sign-in under a new session id (a new id at
// every login: no fixation) and sets the cookie. The same user signing in
// again (prompt=login, max_age) goes on in the browser's session, with its
// sid, its apps and their tokens; another user's session is ended first
// (its apps are told, its tokens revoked).
func (k *Kit) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, subject string, amr []string, now time.Time) (storage.BrowserSession, error) {
	id := httpx.RandomString(32)
	bs := storage.BrowserSession{
		IDHash: HashID(id), SID: httpx.RandomString(16), Subject: subject,
		AuthTime: now.Truncate(time.Second), AMR: amr, CreatedAt: now, ExpiresAt: now.Add(k.o.SessionLifetime),
	}
	bs, err := k.record(ctx, r, bs)
	if err != nil {
		return bs, err
	}
	http.SetCookie(w, &http.Cookie{Name: k.sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: k.o.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(k.o.SessionLifetime.Seconds())})
	return bs, nil
}

// record stores the sign-in bs: as a renewal of the browser's session
// when it is the same user's (its sid, creation time and apps kept), or
// else as a new session, after ending the other user's one.
func (k *Kit) record(ctx context.Context, r *http.Request, bs storage.BrowserSession) (storage.BrowserSession, error) {
	old, had, err := k.Session(ctx, r)
	switch {
	case err != nil:
		return bs, err
	case had && old.Subject == bs.Subject:
		renewed := bs
		renewed.SID, renewed.CreatedAt, renewed.Clients = old.SID, old.CreatedAt, old.Clients
		err := k.o.Store.RenewSession(ctx, old.IDHash, renewed)
		if err == nil {
			return renewed, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return bs, err
		}
		// Ended meanwhile: start afresh.
	case had:
		if err := k.o.Store.DeleteSession(ctx, old.IDHash); err != nil {
			return bs, err
		}
	}
	return bs, k.o.Store.CreateSession(ctx, bs)
}

// ExpireSessionCookie tells the browser to drop its session cookie (its
// session ended on the server).
func (k *Kit) ExpireSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: k.sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: k.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// SignedOut expires the session cookie and writes the signed-out page with
// msg. The clients the ended sessions had signed in to that registered a
// front-channel logout URI are loaded in frames on it (the back-channel
// side of those sessions is the store's, when it ends them).
func (k *Kit) SignedOut(w http.ResponseWriter, r *http.Request, msg string, ended []storage.BrowserSession) {
	k.ExpireSessionCookie(w)
	var frames []frontchannel.Frame
	if k.o.Clients != nil {
		list := make([]frontchannel.Session, 0, len(ended))
		for _, bs := range ended {
			s, err := frontchannel.Ended(r.Context(), k.o.Clients, bs.SID, bs.Clients)
			if err != nil {
				k.o.Log.Error("signed-out page", "err", err)
			}
			list = append(list, s)
		}
		frames = frontchannel.Frames(k.o.Issuer, list)
	}
	frontchannel.Allow(w.Header(), frames)
	k.Render(w, r, http.StatusOK, "logged_out", map[string]any{"Message": msg, "Frames": frames})
}

// EndSession clears the session cookie and deletes the browser's session;
// it returns the session that ended (false: there was none).
func (k *Kit) EndSession(ctx context.Context, w http.ResponseWriter, r *http.Request) (storage.BrowserSession, bool, error) {
	k.ExpireSessionCookie(w)
	bs, ok, err := k.Session(ctx, r)
	if err != nil || !ok {
		return bs, false, err
	}
	return bs, true, k.o.Store.DeleteSession(ctx, bs.IDHash)
}

// auditWindow is the span one repeated-event row counts.
const auditWindow = 5 * time.Minute

// Audit writes an audit event; a failure to write is logged, not fatal to
// the user's request.
func (k *Kit) Audit(ctx context.Context, r *http.Request, typ, subject, clientID string, details map[string]string) {
	k.writeAudit(ctx, r, typ, subject, clientID, details, false)
}

// AuditRepeated records an event that unauthenticated requests can repeat
// at will (a wrong password, a throttled attempt): one row per type,
// account, address and client in each auditWindow, with a count, so a
// flood of attempts cannot grow the audit log without bound.
func (k *Kit) AuditRepeated(ctx context.Context, r *http.Request, typ, subject, clientID string, details map[string]string) {
	k.writeAudit(ctx, r, typ, subject, clientID, details, true)
}

func (k *Kit) writeAudit(ctx context.Context, r *http.Request, typ, subject, clientID string, details map[string]string, repeated bool) {
	if details == nil {
		details = map[string]string{}
	}
	now, ip := k.o.Now().UTC(), httpx.ClientIP(r)
	e := storage.AuditEvent{ID: httpx.RandomString(16), At: now, Type: typ, Actor: subject, Subject: subject, ClientID: clientID,
		IP: ip, RequestID: httpx.RequestID(ctx), Details: details}
	var err error
	if repeated {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%d", typ, subject, ip, clientID, now.Truncate(auditWindow).Unix())))
		e.ID = "rep_" + hex.EncodeToString(h[:16])
		err = k.o.Store.CountAudit(ctx, e)
	} else {
		err = k.o.Store.AppendAudit(ctx, e)
	}
	if err != nil {
		k.o.Log.Error("audit", "type", typ, "err", err)
	}
	k.o.Log.Info("audit", "type", typ, "subject", subject, "client_id", clientID, "request_id", e.RequestID)
}
