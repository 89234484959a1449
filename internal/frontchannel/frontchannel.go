// Package frontchannel is OpenID Connect Front-Channel Logout 1.0 from the
// OP's side: when a browser session ends in front of its user, the page
// that says so loads the frontchannel_logout_uri of every client the
// session had signed in to in a hidden iframe (with iss and sid when the
// client asked for them), under a Content-Security-Policy that lets the
// page frame exactly those URIs and nothing else.
//
// Front-channel logout needs the user's browser: it cannot reach sessions
// ended by an operator or on another device, which back-channel logout
// covers. Browsers that block third-party cookies also keep an RP's
// framed page from seeing its own session cookie, so an RP should end its
// session by the sid it is given rather than by its cookie.
package frontchannel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// MaxFrames bounds the frames one page loads (a user signed in to many
// apps on many devices signs out everywhere).
const MaxFrames = 50

// Session is a browser session that ended: its sid and the clients it had
// signed in to (those that still exist).
type Session struct {
	SID     string
	Clients []storage.Client
}

// Clients is the read Ended needs.
type Clients interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
}

// Ended is the ended session sid with its clients read from ids (once
// each: the signed-out page names them and frames them). A client deleted
// since is skipped. Another error is returned with the clients that could
// be read: the session has ended all the same, and its page still says so.
func Ended(ctx context.Context, clients Clients, sid string, ids []string) (Session, error) {
	s := Session{SID: sid}
	var errs []error
	for _, id := range ids {
		c, err := clients.GetClient(ctx, id)
		switch {
		case err == nil:
			s.Clients = append(s.Clients, c)
		case !errors.Is(err, storage.ErrNotFound):
			errs = append(errs, fmt.Errorf("front-channel logout: client %s: %w", id, err))
		}
	}
	return s, errors.Join(errs...)
}

// Frame is one client's front-channel logout page.
type Frame struct {
	// URL is what the iframe loads.
	URL string
	// Client is the client's display name.
	Client string
	// source is the CSP source expression that allows URL.
	source string
}

// Frames returns the frames for the clients of the ended sessions that
// registered a frontchannel_logout_uri: one per client, or one per client
// and session when the client requires iss and sid (each sid is a session
// it must end). At most MaxFrames.
func Frames(issuer string, ended []Session) []Frame {
	var frames []Frame
	seen := map[string]bool{}
	for _, s := range ended {
		for _, c := range s.Clients {
			if len(frames) == MaxFrames {
				return frames
			}
			u, err := url.Parse(c.Metadata.FrontchannelLogoutURI)
			if err != nil || u.Host == "" || strings.Contains(u.Hostname(), ":") {
				continue // none, or one registration refuses (a row written before it may hold one)
			}
			if c.Metadata.FrontchannelLogoutSessionRequired {
				q := u.Query()
				q.Set("iss", issuer)
				q.Set("sid", s.SID)
				u.RawQuery = q.Encode()
			}
			if seen[u.String()] {
				continue
			}
			seen[u.String()] = true
			frames = append(frames, Frame{URL: u.String(), Client: c.Name, source: source(u)})
		}
	}
	return frames
}

// source is the CSP source expression that matches u's scheme, host, port
// and exact path (a query is never part of a source). ";" and "," end a
// source list or a directive, so they are percent-encoded, as CSP's path
// matching decodes them.
func source(u *url.URL) string {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	path = strings.NewReplacer(";", "%3B", ",", "%2C").Replace(path)
	return u.Scheme + "://" + u.Host + path
}

// Allow adds to the response's Content-Security-Policy a frame-src naming
// exactly the frames' URIs (without frames it stays at default-src
// 'none'). Call it before the response is written.
func Allow(h http.Header, frames []Frame) {
	if len(frames) == 0 {
		return
	}
	srcs := make([]string, 0, len(frames))
	seen := map[string]bool{}
	for _, f := range frames {
		if !seen[f.source] {
			seen[f.source] = true
			srcs = append(srcs, f.source)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if csp == "" {
		csp = "default-src 'none'"
	}
	h.Set("Content-Security-Policy", csp+"; frame-src "+strings.Join(srcs, " "))
}
