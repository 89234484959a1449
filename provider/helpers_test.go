package provider_test

import (
	"encoding/base64"
	"io"
	"strings"
)

func nopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
