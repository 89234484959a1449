package consent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// softAuthenticator creates P-256 credentials and signs assertions the way
// a platform authenticator does (CTAP2 authenticator data, "none"
// attestation, ES256), for tests of the WebAuthn ceremonies without a
// browser.
type softAuthenticator struct {
	t      testing.TB
	rpID   string
	origin string
	// uv and backupEligible set the UV and BE flags.
	uv, backupEligible bool
	counter            uint32

	key    *ecdsa.PrivateKey
	credID []byte
	user   []byte
}

func newSoftAuthenticator(t testing.TB, rpID, origin string) *softAuthenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softAuthenticator{t: t, rpID: rpID, origin: origin, uv: true, key: key, credID: id}
}

var b64 = base64.RawURLEncoding

// challengeOf reads the challenge out of creation or request options.
func challengeOf(t testing.TB, opts []byte) string {
	var o struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.Challenge == "" {
		t.Fatalf("options without a challenge: %s", opts)
	}
	return o.Challenge
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *softAuthenticator) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	flags := byte(0x01) // UP
	if a.uv {
		flags |= 0x04
	}
	if a.backupEligible {
		flags |= 0x08
	}
	if attested {
		flags |= 0x40
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.counter)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(a.credID)))
		out = append(out, a.credID...)
		pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			a.t.Fatal(err)
		}
		cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
		if err != nil {
			a.t.Fatal(err)
		}
		out = append(out, cose...)
	}
	return out
}

// register answers creation options with a new credential.
func (a *softAuthenticator) register(opts []byte) []byte {
	var o struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	json.Unmarshal(opts, &o)
	a.user, _ = b64.DecodeString(o.User.ID)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(true)})
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", challengeOf(a.t, opts))),
			"attestationObject": b64.EncodeToString(att)}})
	return b
}

// assert signs request options, advancing the counter first.
func (a *softAuthenticator) assert(opts []byte) []byte {
	a.counter++
	return a.assertWith(challengeOf(a.t, opts), false)
}

// assertWith signs a challenge; badSig corrupts the signature.
func (a *softAuthenticator) assertWith(challenge string, badSig bool) []byte {
	ad := a.authData(false)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	if badSig {
		sig[len(sig)-1] ^= 0xff
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.user)}})
	return b
}
