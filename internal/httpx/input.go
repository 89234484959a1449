package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxFormBytes bounds every form body (a client assertion is a few KiB).
const maxFormBytes = 64 << 10

// CleanInput refuses, once for every route, a request whose text is not
// valid UTF-8 or holds a NUL character: in the path, the query, HTTP Basic
// credentials, a form body or a JSON body. No handler, and no database,
// sees such a string; the client gets 400 with the place named.
func CleanInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		where, err := checkRequest(w, r)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				inputError(w, http.StatusRequestEntityTooLarge, "The request body is too large.")
				return
			}
			inputError(w, http.StatusBadRequest, fmt.Sprintf("The request could not be read (%s): %v.", where, err))
			return
		}
		if where != "" {
			inputError(w, http.StatusBadRequest, "The request contains invalid UTF-8 or a NUL character ("+where+").")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func inputError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": "invalid_request", "error_description": msg})
	_, _ = w.Write(b)
}

// cleanText reports whether s is valid UTF-8 without NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// checkRequest names the first unclean place of r ("" when clean). A body
// it reads is put back for the handler.
func checkRequest(w http.ResponseWriter, r *http.Request) (string, error) {
	if !cleanText(r.URL.Path) {
		return "the path", nil
	}
	if where := checkValues("query parameter", r.URL.RawQuery); where != "" {
		return where, nil
	}
	if user, pass, ok := r.BasicAuth(); ok && (!cleanText(user) || !cleanText(pass)) {
		return "the Basic credentials", nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == "application/json" || strings.HasSuffix(ct, "+json")
	if ct == "application/x-www-form-urlencoded" && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		// Parsed once here, for the handler too (its ParseForm is then a
		// no-op), and the decoded values checked. No form needs more
		// than maxFormBytes.
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return "the form", err
		}
		return checkForm(r.PostForm), nil
	}
	if !isJSON {
		return "", nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return "the body", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !utf8.Valid(body) || jsonHasNUL(body) {
		return "the JSON body", nil
	}
	return "", nil
}

// checkForm names the first unclean field of a parsed form.
func checkForm(form url.Values) string {
	for k, vs := range form {
		if !cleanText(k) {
			return "form field name"
		}
		for _, v := range vs {
			if !cleanText(v) {
				return fmt.Sprintf("form field %q", k)
			}
		}
	}
	return ""
}

// checkValues names the first unclean name or value of a URL-encoded list.
// Pairs that do not decode are left to the handler, as before.
func checkValues(kind, raw string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 == nil && !cleanText(name) {
			return kind + " name"
		}
		if err1 == nil && err2 == nil && !cleanText(value) {
			return fmt.Sprintf("%s %q", kind, name)
		}
	}
	return ""
}

// jsonHasNUL reports a \u0000 escape in JSON text (a raw NUL byte is not
// valid JSON and is refused by the decoder anyway).
func jsonHasNUL(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case 0:
			return true
		case '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
				return true
			}
			i++ // the escaped character
		}
	}
	return false
}
