// Package templates holds gatehouse's HTML pages, embedded in the binary and
// overridable file by file from a directory.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed html/*.html mail/*.html mail/*.txt
var embedded embed.FS

// Renderer renders named pages inside the shared layout, and mail.
type Renderer struct {
	pages map[string]*template.Template
	mail  map[string]mailTemplates
}

// Mails are the messages a Renderer knows: each has a text version
// (mail/NAME.txt, text/template, with a "subject" template) and an HTML one
// (mail/NAME.html, inside mail/layout.html); both are overridable as
// mail_NAME.txt and mail_NAME.html in the templates directory.
var Mails = []string{"recover", "recover_unknown", "password_changed", "verify", "signup_existing", "email_change", "email_changed", "email_taken", "email_login", "email_login_unknown", "invite"}

type mailTemplates struct {
	text *texttemplate.Template
	html *template.Template
}

// Pages are the page names a Renderer knows.
var Pages = []string{"login", "consent", "error", "logged_out", "logout_confirm", "form_post", "dev_callback", "dev_mail", "recover", "recover_sent", "reset", "reset_done", "activity", "profile", "password", "delete_account", "signup", "signup_sent", "verified", "confirm_link", "email_change", "email_changed", "email_sent", "email_elsewhere", "mfa", "account", "totp_setup", "backup_codes", "passkey_register"}

// New parses the embedded templates; files with the same names in dir (if
// not empty) replace them.
func New(dir string) (*Renderer, error) {
	var src fs.FS = embedded
	read := func(name string) ([]byte, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return b, nil
			}
			if !os.IsNotExist(err) {
				return nil, err
			}
		}
		return fs.ReadFile(src, "html/"+name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: layout: %w", err)
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, p := range Pages {
		body, err := read(p + ".html")
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
		t, err := template.New("layout").Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("templates: layout: %w", err)
		}
		if _, err := t.Parse(string(body)); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", p, err)
		}
		r.pages[p] = t
	}
	if err := r.parseMail(dir); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Renderer) parseMail(dir string) error {
	read := func(name string) ([]byte, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, "mail_"+name))
			if err == nil {
				return b, nil
			}
			if !os.IsNotExist(err) {
				return nil, err
			}
		}
		return fs.ReadFile(embedded, "mail/"+name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return fmt.Errorf("templates: mail layout: %w", err)
	}
	r.mail = map[string]mailTemplates{}
	for _, m := range Mails {
		txt, err := read(m + ".txt")
		if err != nil {
			return fmt.Errorf("templates: mail %s: %w", m, err)
		}
		tt, err := texttemplate.New(m).Parse(string(txt))
		if err != nil {
			return fmt.Errorf("templates: mail %s.txt: %w", m, err)
		}
		if tt.Lookup("subject") == nil {
			return fmt.Errorf("templates: mail %s.txt: no {{define \"subject\"}}", m)
		}
		body, err := read(m + ".html")
		if err != nil {
			return fmt.Errorf("templates: mail %s: %w", m, err)
		}
		ht, err := template.New("layout").Parse(string(layout))
		if err == nil {
			_, err = ht.Parse(string(body))
		}
		if err != nil {
			return fmt.Errorf("templates: mail %s.html: %w", m, err)
		}
		r.mail[m] = mailTemplates{text: tt, html: ht}
	}
	return nil
}

// Mail renders message name with data (a map or struct with at least
// Product and Issuer): its subject, text and HTML.
func (r *Renderer) Mail(name string, data any) (subject, text, html string, err error) {
	m, ok := r.mail[name]
	if !ok {
		return "", "", "", fmt.Errorf("templates: no mail %q", name)
	}
	var sb, tb, hb bytes.Buffer
	if err := m.text.ExecuteTemplate(&sb, "subject", data); err != nil {
		return "", "", "", fmt.Errorf("templates: mail %s subject: %w", name, err)
	}
	if err := m.text.Execute(&tb, data); err != nil {
		return "", "", "", fmt.Errorf("templates: mail %s text: %w", name, err)
	}
	if err := m.html.ExecuteTemplate(&hb, "layout", data); err != nil {
		return "", "", "", fmt.Errorf("templates: mail %s html: %w", name, err)
	}
	return strings.TrimSpace(sb.String()), tb.String(), hb.String(), nil
}

// Render writes page with status. data is available as .Data; nonce is the
// CSP nonce of this response.
func (r *Renderer) Render(w http.ResponseWriter, status int, page, nonce string, data any) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("templates: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", map[string]any{"Nonce": nonce, "Data": data}); err != nil {
		return fmt.Errorf("templates: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
