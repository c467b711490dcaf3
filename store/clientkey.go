package store

import "net/netip"

// ClientKey is the key one client's requests are counted under by the throttles and
// limits: an IPv4 address, or the /64 of an IPv6 address, which one subscriber usually
// holds whole (so it gives an attacker no fresh counters); anything else (a string that
// is not an address) is used as it is.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
