package account_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestEmailChange: a change is asked with a recent login, done by the link
// mailed to the new address, told to the old one, and undone from there
// (every session ending) even after the password changed; a taken address
// gets a message instead and changes nothing.
func TestEmailChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clk.t
	for _, u := range []storage.User{
		{Subject: "ann", Email: "ann@example.com", EmailVerified: true, PasswordHash: "x", CreatedAt: now, UpdatedAt: now},
		{Subject: "zoe", Email: "zoe@example.com", EmailVerified: true, CreatedAt: now, UpdatedAt: now},
	} {
		if err := f.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID("here"), SID: "sid-here", Subject: "ann", AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	account.NewEmailChange(account.EmailOptions{Web: f.kit, Store: f.st, SignIn: f.cs, Mail: mail.NewOutbox(f.st, f.clk.Now, nil), Pages: f.pages,
		Issuer: "https://id.example.com", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	b := &browser{t: t, f: f, cookies: map[string]string{"gatehouse_session": "here"}}
	ask := func(to string) (int, string) {
		t.Helper()
		f.clk.t = f.clk.t.Add(time.Second)
		page := b.do(http.MethodGet, account.PathEmail, nil)
		w := b.do(http.MethodPost, account.PathEmail, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "new_email": {to}})
		return w.Code, w.Body.String()
	}
	latest := func(to string) storage.Mail {
		t.Helper()
		list, _ := f.st.ListMail(ctx, 50)
		for _, m := range list {
			if m.To == to {
				return m
			}
		}
		t.Fatalf("no mail to %s", to)
		return storage.Mail{}
	}
	tokenRe := regexp.MustCompile(`/account/email/(confirm|undo)\?token=([A-Za-z0-9_-]+)`)
	tokenIn := func(m storage.Mail) string {
		t.Helper()
		got := tokenRe.FindStringSubmatch(m.Text)
		if got == nil {
			t.Fatalf("no link in %q", m.Text)
		}
		return got[2]
	}
	// open follows a link and presses its button; opening alone changes
	// nothing.
	open := func(path, tok string) (int, string) {
		t.Helper()
		before, _ := f.st.GetUser(ctx, "ann")
		page := b.do(http.MethodGet, path+"?token="+url.QueryEscape(tok), nil)
		if after, _ := f.st.GetUser(ctx, "ann"); after.Email != before.Email {
			t.Fatalf("opening %s changed the address", path)
		}
		if page.Code != 200 {
			return page.Code, page.Body.String()
		}
		w := b.do(http.MethodPost, path, url.Values{"csrf_token": {csrfOf(t, page.Body.String())}, "token": {tok}})
		return w.Code, w.Body.String()
	}

	// A taken address: a message to it, nothing else.
	if code, body := ask("Zoe@Example.com"); code != 200 || !strings.Contains(body, "We sent a link") {
		t.Fatalf("taken address: %d", code)
	}
	if m := latest("zoe@example.com"); !strings.Contains(m.Subject, "already has") || tokenRe.MatchString(m.Text) {
		t.Fatalf("mail to a taken address: %+v", m)
	}
	if code, _ := ask("ann.new@example.com"); code != 200 {
		t.Fatalf("ask: %d", code)
	}
	confirm := tokenIn(latest("ann.new@example.com"))
	if u, _ := f.st.GetUser(ctx, "ann"); u.Email != "ann@example.com" {
		t.Fatal("the address changed before the link was opened")
	}
	for _, path := range []string{account.PathEmailConfirm, account.PathEmailUndo} {
		if w := b.do(http.MethodPost, path, url.Values{"csrf_token": {"forged"}, "token": {confirm}}); w.Code != 403 {
			t.Fatalf("POST %s with a forged CSRF token: %d", path, w.Code)
		}
	}
	if code, body := open(account.PathEmailConfirm, confirm); code != 200 || !strings.Contains(body, "ann.new@example.com") {
		t.Fatalf("confirm: %d\n%s", code, body)
	}
	if code, _ := open(account.PathEmailConfirm, confirm); code != 400 {
		t.Fatal("a used confirmation link worked again")
	}
	if u, _ := f.st.GetUser(ctx, "ann"); u.Email != "ann.new@example.com" || !u.EmailVerified {
		t.Fatalf("after confirming: %+v", u)
	}
	notice := latest("ann@example.com")
	if !strings.Contains(notice.Subject, "was changed") {
		t.Fatalf("no notice to the old address: %+v", notice)
	}
	undo := tokenIn(notice)
	// Whoever made the change sets a new password: the undo still works.
	h, _ := password.Hash("the taker's password")
	if _, err := account.SetPassword(ctx, f.st, "ann", h, web.HashID("here"), f.clk.t); err != nil {
		t.Fatal(err)
	}
	if code, body := open(account.PathEmailUndo, undo); code != 200 || !strings.Contains(body, "undone") {
		t.Fatalf("undo: %d\n%s", code, body)
	}
	if u, _ := f.st.GetUser(ctx, "ann"); u.Email != "ann@example.com" {
		t.Fatalf("after undo: %+v", u)
	}
	if _, err := f.st.GetSession(ctx, web.HashID("here"), f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("a session survived the undo")
	}
	if code, _ := open(account.PathEmailUndo, undo); code != 400 {
		t.Fatal("a used undo link worked again")
	}
	// An undo link lasts 7 days.
	if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID("again"), SID: "sid-again", Subject: "ann", AuthTime: f.clk.t, CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b.cookies["gatehouse_session"] = "again"
	f.clk.t = f.clk.t.Add(-time.Second) // the session's login is recent
	ask("ann.other@example.com")
	open(account.PathEmailConfirm, tokenIn(latest("ann.other@example.com")))
	late := tokenIn(latest("ann@example.com"))
	f.clk.t = f.clk.t.Add(8 * 24 * time.Hour)
	if code, _ := open(account.PathEmailUndo, late); code != 400 {
		t.Fatal("an undo link older than 7 days worked")
	}

	// One account asks five times an hour at most, and one address gets
	// five such mails an hour, whoever asks.
	if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID("third"), SID: "sid-third", Subject: "ann", AuthTime: f.clk.t, CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b.cookies["gatehouse_session"] = "third"
	for i := range 5 {
		if code, _ := ask(fmt.Sprintf("stranger%d@example.net", i)); code != 200 {
			t.Fatalf("change %d: %d", i+1, code)
		}
	}
	if code, body := ask("stranger9@example.net"); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many") {
		t.Fatalf("a sixth change in an hour: %d", code)
	}
	if list, _ := f.st.ListMail(ctx, 100); countTo(list, "stranger9@example.net") != 0 {
		t.Fatal("a refused change was mailed")
	}
	for i := range 6 {
		sub := fmt.Sprintf("user%d", i)
		if err := f.st.CreateUser(ctx, storage.User{Subject: sub, Email: sub + "@example.com", CreatedAt: f.clk.t, UpdatedAt: f.clk.t}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID(sub), SID: "sid-" + sub, Subject: sub, AuthTime: f.clk.t, CreatedAt: f.clk.t, ExpiresAt: f.clk.t.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		b.cookies["gatehouse_session"] = sub
		want := http.StatusOK
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if code, _ := ask("target@example.net"); code != want {
			t.Fatalf("account %d moving to one address: %d, want %d", i+1, code, want)
		}
	}
	if list, _ := f.st.ListMail(ctx, 100); countTo(list, "target@example.net") != 5 {
		t.Fatalf("%d mails to one address", countTo(list, "target@example.net"))
	}
}

func countTo(list []storage.Mail, to string) int {
	n := 0
	for _, m := range list {
		if m.To == to {
			n++
		}
	}
	return n
}
