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
)

//go:embed html/*.html
var embedded embed.FS

// Renderer renders named pages inside the shared layout.
type Renderer struct {
	pages map[string]*template.Template
}

// Pages are the page names a Renderer knows.
var Pages = []string{"login", "consent", "error", "logged_out", "form_post", "dev_callback", "dev_mail", "mfa", "account", "totp_setup", "backup_codes", "passkey_register"}

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
	return r, nil
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
