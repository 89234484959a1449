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
