package templates

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderAndOverride(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := r.Render(w, 200, "error", "n0nce", map[string]string{"Title": "<script>x</script>", "Message": "m"}); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if strings.Contains(body, "<script>x") || !strings.Contains(body, `nonce="n0nce"`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("render: escaping, nonce or cache header wrong:\n%s", body)
	}
	for _, p := range Pages {
		if err := r.Render(httptest.NewRecorder(), 200, p, "n", nil); err != nil {
			t.Errorf("page %s does not render with no data: %v", p, err)
		}
	}
	if err := r.Render(httptest.NewRecorder(), 200, "nope", "n", nil); err == nil {
		t.Error("unknown page rendered")
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "error.html"), []byte(`{{define "title"}}Oops{{end}}{{define "body"}}custom {{.Data.Title}}{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r2, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	if err := r2.Render(w, 404, "error", "n", map[string]string{"Title": "T"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Body.String(), "custom T") || !strings.Contains(w.Body.String(), "<title>Oops") || w.Code != 404 {
		t.Fatalf("override not used:\n%s", w.Body.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "login.html"), []byte(`{{define "body"}}{{.Broken`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir); err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("a broken override was accepted: %v", err)
	}
}

// TestMail: every message renders a one-line subject, a text body and an
// HTML body (escaped); an override replaces one file.
func TestMail(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"Product": "Acme ID", "Issuer": "https://id.example.com", "Email": "ann@example.com", "Link": "https://id.example.com/r?t=1",
		"RecoverLink": "https://id.example.com/account/recover", "Valid": "15 minutes", "When": "1 December 2026 12:00 UTC", "NewEmail": "ann@example.com", "Code": "123456"}
	for _, m := range Mails {
		subject, text, html, err := r.Mail(m, data)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if subject == "" || strings.ContainsAny(subject, "\r\n") || !strings.Contains(subject, "Acme ID") || !strings.Contains(text, "ann@example.com") ||
			!strings.Contains(html, "<html") || !strings.Contains(html, "https://id.example.com") {
			t.Errorf("%s: subject %q\n%s\n%s", m, subject, text, html)
		}
	}
	data["Email"] = "<b>x</b>@example.com"
	if _, _, html, _ := r.Mail("recover", data); strings.Contains(html, "<b>x</b>") {
		t.Error("the HTML body is not escaped")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mail_recover.txt"), []byte(`{{define "subject"}}Custom{{end}}Go to {{.Link}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r2, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if subject, text, _, _ := r2.Mail("recover", data); subject != "Custom" || text != "Go to https://id.example.com/r?t=1" {
		t.Fatalf("override: %q %q", subject, text)
	}
}
