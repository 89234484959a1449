// Package netguard keeps outgoing requests that a client can aim (a
// registered jwks_uri) off every address that is not a public unicast
// address: the IANA IPv4 and IPv6 special-purpose address registries, not
// only private and loopback ranges, so a registration cannot become a way
// into the server's own network (cloud metadata at 100.100.100.200 or
// 169.254.169.254, carrier-grade NAT, NAT64, benchmarking ranges).
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// special lists the IANA special-purpose ranges (RFC 6890 and its
// updates), plus multicast and the reserved 240.0.0.0/4.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		// IPv4
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		// IPv6 (IPv4-mapped addresses are checked as IPv4)
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
		"3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsPublic reports whether a is a public unicast address.
func IsPublic(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control function that refuses to connect to any
// address that is not public. It runs after name resolution, on the
// address actually dialled, so DNS cannot be used to slip past it.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !IsPublic(a) {
		return fmt.Errorf("%s is not a public address", host)
	}
	return nil
}
