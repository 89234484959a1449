package keys

import (
	"bytes"
	"errors"
	"testing"
)

func TestCipher(t *testing.T) {
	oldSecret := bytes.Repeat([]byte("o"), 32)
	newSecret := bytes.Repeat([]byte("n"), 40)
	old, err := NewCipher([][]byte{oldSecret})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewCipher([][]byte{newSecret, oldSecret})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal([]byte("private key"), []byte("signing_keys/k1"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name    string
		c       *Cipher
		ct      []byte
		aad     string
		wantErr bool
	}{
		{"same secret opens", old, sealed, "signing_keys/k1", false},
		{"rotated list still opens old ciphertexts", rotated, sealed, "signing_keys/k1", false},
		{"row swapped (other AAD) is refused", old, sealed, "signing_keys/k2", true},
		{"tampered ciphertext is refused", old, tampered, "signing_keys/k1", true},
		{"truncated ciphertext is refused", old, sealed[:10], "signing_keys/k1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.c.Open(tt.ct, []byte(tt.aad))
			if tt.wantErr {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("want ErrDecrypt, got %v", err)
				}
				return
			}
			if err != nil || string(pt) != "private key" {
				t.Fatalf("Open = %q, %v", pt, err)
			}
		})
	}
	wrong, _ := NewCipher([][]byte{newSecret})
	if _, err := wrong.Open(sealed, []byte("signing_keys/k1")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong secret: want ErrDecrypt, got %v", err)
	}
	if !rotated.SealedWithPrimary(must(rotated.Seal([]byte("x"), nil))) || rotated.SealedWithPrimary(sealed) {
		t.Fatal("SealedWithPrimary is wrong")
	}
	if _, err := NewCipher([][]byte{[]byte("short")}); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := NewCipher(nil); err == nil {
		t.Fatal("no secret accepted")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
