package account_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/account"
	"github.com/gatehouse-id/gatehouse/authn/password"
	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
)

// settingsFixture is the fixture with the settings pages, ann signed in on
// this browser ("here") and on another ("there"), and a refresh token.
func settingsFixture(t *testing.T) (*fixture, *browser) {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	hash, err := password.Hash("the-current-password")
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.t
	if err := f.st.CreateUser(ctx, storage.User{Subject: "ann", Email: "ann@example.com", PasswordHash: hash, Name: "Ann",
		Profile: storage.Profile{PhoneNumber: "+33 1 23 45 67 89", PhoneNumberVerified: true, Address: &storage.Address{Locality: "Lyon"}}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"here", "there"} {
		if err := f.st.CreateSession(ctx, storage.BrowserSession{IDHash: web.HashID(id), SID: "sid-" + id, Subject: "ann", AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.CreateClient(ctx, storage.Client{ID: "notes", Name: "Notes", RedirectURIs: []string{"https://notes.example/cb"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateToken(ctx, storage.Token{Kind: storage.TokenRefresh, Signature: "rt", RequestID: "r", ClientID: "notes", Subject: "ann", Active: true,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now, Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	account.NewSettings(account.SettingsOptions{Web: f.kit, Store: f.st, SignIn: f.cs, Hasher: password.NewHasher(1, 1, 0), Mail: mail.NewOutbox(f.st, f.clk.Now, nil),
		Pages: f.pages, Issuer: "https://id.example.com", Log: f.log, Now: f.clk.Now}).Register(f.mux)
	return f, &browser{t: t, f: f, cookies: map[string]string{"gatehouse_session": "here"}}
}

func (b *browser) settings(path string, form url.Values) (int, string) {
	b.t.Helper()
	page := b.do(http.MethodGet, path, nil)
	if page.Code != 200 {
		b.t.Fatalf("GET %s: %d", path, page.Code)
	}
	form.Set("csrf_token", csrfOf(b.t, page.Body.String()))
	w := b.do(http.MethodPost, path, form)
	return w.Code, w.Body.String()
}

// TestProfileSettings: the form changes what it shows and keeps the rest; a
// new phone number is no longer verified; a bad value names the field.
func TestProfileSettings(t *testing.T) {
	f, b := settingsFixture(t)
	code, body := b.settings(account.PathProfile, url.Values{"name": {"Ann B"}, "given_name": {"Ann"}, "nickname": {"annie"}, "website": {"https://ann.example"},
		"phone_number": {"+33 9 87 65 43 21"}})
	if code != 200 || !strings.Contains(body, "saved") {
		t.Fatalf("save: %d\n%s", code, body)
	}
	u, _ := f.st.GetUser(context.Background(), "ann")
	if u.Name != "Ann B" || u.Profile.Nickname != "annie" || u.Profile.Website != "https://ann.example" || u.Profile.PhoneNumberVerified ||
		u.Profile.Address == nil || u.Profile.Address.Locality != "Lyon" {
		t.Fatalf("user after save: %+v %+v", u, u.Profile)
	}
	if code, body := b.settings(account.PathProfile, url.Values{"website": {"javascript:alert(1)"}}); code != 400 || !strings.Contains(body, "website") {
		t.Fatalf("a bad website: %d\n%s", code, body)
	}
}

// TestChangePassword: the current password is required; the change ends
// every other session and every token, keeps this one, and mails a notice.
func TestChangePassword(t *testing.T) {
	f, b := settingsFixture(t)
	ctx := context.Background()
	if code, body := b.settings(account.PathPassword, url.Values{"current": {"a-wrong-guess"}, "password": {"a-brand-new-password"}, "password2": {"a-brand-new-password"}}); code != 400 ||
		!strings.Contains(body, "not your current password") {
		t.Fatalf("wrong current password: %d", code)
	}
	if code, _ := b.settings(account.PathPassword, url.Values{"current": {"the-current-password"}, "password": {"short"}, "password2": {"short"}}); code != 400 {
		t.Fatalf("short new password: %d", code)
	}
	code, body := b.settings(account.PathPassword, url.Values{"current": {"the-current-password"}, "password": {"a-brand-new-password"}, "password2": {"a-brand-new-password"}})
	if code != 200 || !strings.Contains(body, "Your password is changed") {
		t.Fatalf("change: %d\n%s", code, body)
	}
	u, _ := f.st.GetUser(ctx, "ann")
	if _, err := password.Verify(u.PasswordHash, "a-brand-new-password"); err != nil {
		t.Fatal("the new password does not verify")
	}
	if _, err := f.st.GetSession(ctx, web.HashID("here"), f.clk.t); err != nil {
		t.Fatalf("this browser was signed out: %v", err)
	}
	if _, err := f.st.GetSession(ctx, web.HashID("there"), f.clk.t); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the other session lives on: %v", err)
	}
	if _, err := f.st.GetToken(ctx, storage.TokenRefresh, "rt"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refresh token lives on: %v", err)
	}
	if l, _ := f.st.ListMail(ctx, 5); len(l) != 1 || !strings.Contains(l[0].Subject, "was changed") || l[0].To != "ann@example.com" {
		t.Fatalf("notice: %+v", l)
	}
	// A stale login cannot change it (the page no longer offers the form).
	csrf := csrfOf(t, b.do(http.MethodGet, account.PathPassword, nil).Body.String())
	f.clk.t = f.clk.t.Add(10 * time.Minute)
	if strings.Contains(b.do(http.MethodGet, account.PathPassword, nil).Body.String(), `id="change-password"`) {
		t.Error("a stale login is offered the form")
	}
	w := b.do(http.MethodPost, account.PathPassword, url.Values{"csrf_token": {csrf}, "current": {"a-brand-new-password"}, "password": {"yet-another-password"},
		"password2": {"yet-another-password"}})
	if w.Code != 403 || !strings.Contains(w.Body.String(), "Confirm it is you") {
		t.Fatalf("a stale login changed the password: %d", w.Code)
	}
}

// TestDeleteAccount: deleting needs the email typed; it removes the account
// with its sessions and tokens, and keeps the audit events without the
// addresses and details that identify the person.
func TestDeleteAccount(t *testing.T) {
	f, b := settingsFixture(t)
	ctx := context.Background()
	if err := f.st.AppendAudit(ctx, storage.AuditEvent{ID: "e1", At: f.clk.t, Type: "login", Actor: "ann", Subject: "ann", IP: "198.51.100.7", Details: map[string]string{"amr": "pwd"}}); err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(time.Second) // the deletion's event comes after the login's
	if code, _ := b.settings(account.PathDelete, url.Values{"confirm": {"someone@example.com"}}); code != 400 {
		t.Fatalf("a wrong confirmation: %d", code)
	}
	code, body := b.settings(account.PathDelete, url.Values{"confirm": {"Ann@Example.com"}})
	if code != 200 || !strings.Contains(body, "deleted") {
		t.Fatalf("delete: %d\n%s", code, body)
	}
	if _, err := f.st.GetUser(ctx, "ann"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the account lives on: %v", err)
	}
	if list, _ := f.st.ListSessions(ctx, "ann", f.clk.t); len(list) != 0 {
		t.Fatalf("%d sessions left", len(list))
	}
	events, _ := f.st.ListAudit(ctx, "ann", time.Time{}, 10)
	if len(events) < 2 {
		t.Fatalf("audit events: %+v", events)
	}
	for _, e := range events {
		if e.IP != "" || len(e.Details) != 0 {
			t.Errorf("an event still identifies the person: %+v", e)
		}
	}
	if events[0].Type != "user.deleted" {
		t.Errorf("latest event %q, want user.deleted", events[0].Type)
	}
}
