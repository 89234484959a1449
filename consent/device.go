package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Device cookies (OWASP's pattern against lockout attacks): a browser that
// signed in to an account with its password carries an entry for it,
// "nonce.mac" with the MAC over the account and the nonce. Password attempts
// from that browser for that account are counted per device instead of per
// account, so a flood of wrong guesses from elsewhere does not lock the
// owner out of a device they use; unknown devices get the per-account limit.
// The cookie names no account: an entry is recognized by recomputing its MAC
// for the email typed.
const (
	maxDeviceEntries = 5
	deviceCookieAge  = 365 * 24 * 60 * 60
)

func (s *engine) deviceMAC(account, nonce string) string {
	m := hmac.New(sha256.New, s.o.CSRFKey)
	m.Write([]byte("device\x00" + account + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (s *engine) deviceEntries(r *http.Request) []string {
	c, err := r.Cookie(s.web.DeviceCookie())
	if err != nil || len(c.Value) > 1024 {
		return nil
	}
	entries := strings.Split(c.Value, "~")
	if len(entries) > maxDeviceEntries {
		entries = entries[:maxDeviceEntries]
	}
	return entries
}

// knownDevice returns the browser's device id for account when it carries
// a valid entry for it.
func (s *engine) knownDevice(r *http.Request, account string) (string, bool) {
	if account == "" {
		return "", false
	}
	for _, e := range s.deviceEntries(r) {
		nonce, mac, ok := strings.Cut(e, ".")
		if ok && len(nonce) >= 16 && hmac.Equal([]byte(mac), []byte(s.deviceMAC(account, nonce))) {
			return nonce, true
		}
	}
	return "", false
}

// rememberDevice adds an entry for account after a correct password (the
// newest first, at most maxDeviceEntries).
func (s *engine) rememberDevice(w http.ResponseWriter, r *http.Request, account string) {
	if _, ok := s.knownDevice(r, account); ok {
		return
	}
	nonce := httpx.RandomString(16)
	entries := append([]string{nonce + "." + s.deviceMAC(account, nonce)}, s.deviceEntries(r)...)
	if len(entries) > maxDeviceEntries {
		entries = entries[:maxDeviceEntries]
	}
	http.SetCookie(w, &http.Cookie{Name: s.web.DeviceCookie(), Value: strings.Join(entries, "~"), Path: "/", HttpOnly: true,
		Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: deviceCookieAge})
}
