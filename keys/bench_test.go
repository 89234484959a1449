package keys

import (
	"context"
	"testing"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"
)

// BenchmarkSignIDToken measures ID-token signing per algorithm:
//
//	go test -run '^$' -bench SignIDToken ./keys
func BenchmarkSignIDToken(b *testing.B) {
	ctx := context.Background()
	c := newClock()
	st := openStore(b, "sqlite://"+b.TempDir()+"/bench.db")
	m, err := NewManager(ctx, st, cipherFor(b, secretA), opts(c, ES256, PS256, EdDSA))
	if err != nil {
		b.Fatal(err)
	}
	claims := fjwt.MapClaims{"iss": "https://id.example.com", "sub": "248289761001", "aud": []string{"client"}, "nonce": "n-0S6_WzA2Mj",
		"exp": c.Now().Add(time.Hour).Unix(), "iat": c.Now().Unix(), "auth_time": c.Now().Unix(), "amr": []string{"pwd"}, "acr": "urn:gatehouse:acr:1fa"}
	for _, alg := range []string{RS256, PS256, ES256, EdDSA} {
		b.Run(alg, func(b *testing.B) {
			s := &Signer{Manager: m}
			hdr := &fjwt.Headers{Extra: map[string]interface{}{"alg": HeaderAlg(alg)}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := s.Generate(ctx, claims, hdr); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
