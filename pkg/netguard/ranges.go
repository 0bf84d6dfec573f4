package netguard

import "net/netip"

// Range classes named in errors.
const (
	classThisNetwork   = "this network"
	classUnspecified   = "unspecified"
	classLoopback      = "loopback"
	classPrivate       = "private"
	classCGNAT         = "carrier-grade NAT"
	classLinkLocal     = "link-local"
	classReserved      = "reserved"
	classDocumentation = "documentation"
	classTranslation   = "6to4/teredo/NAT64 translation"
	classBenchmarking  = "benchmarking"
	classMulticast     = "multicast"
	classBroadcast     = "broadcast"
	classUniqueLocal   = "unique local"
)

type specialRange struct {
	prefix netip.Prefix
	class  string
}

// specialRanges lists the address blocks checks must not reach, after the
// IANA IPv4 and IPv6 special-purpose registries. Ranges nest (0.0.0.0/32 in
// 0.0.0.0/8, 2001:db8::/32 in 2001::/23), and classify picks the most
// specific. IPv4-mapped IPv6 (::ffff:0:0/96) is absent on purpose: CheckAddr
// unmaps it and judges the IPv4 address.
var specialRanges = []specialRange{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), classThisNetwork},
	{netip.MustParsePrefix("0.0.0.0/32"), classUnspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), classCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved},
	{netip.MustParsePrefix("192.0.2.0/24"), classDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), classTranslation}, // 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), classBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), classDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), classDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved},
	{netip.MustParsePrefix("255.255.255.255/32"), classBroadcast},

	// IPv6.
	{netip.MustParsePrefix("::/128"), classUnspecified},
	{netip.MustParsePrefix("::1/128"), classLoopback},
	{netip.MustParsePrefix("::/96"), classReserved},              // IPv4-compatible, deprecated
	{netip.MustParsePrefix("::ffff:0:0:0/96"), classTranslation}, // SIIT IPv4-translated
	{netip.MustParsePrefix("64:ff9b::/96"), classTranslation},    // NAT64: embeds any IPv4, private included
	{netip.MustParsePrefix("64:ff9b:1::/48"), classTranslation},  // local-use NAT64
	{netip.MustParsePrefix("100::/64"), classReserved},           // discard-only
	{netip.MustParsePrefix("2001::/23"), classReserved},          // IETF protocol assignments
	{netip.MustParsePrefix("2001::/32"), classTranslation},       // Teredo
	{netip.MustParsePrefix("2001:2::/48"), classBenchmarking},    // benchmarking
	{netip.MustParsePrefix("2001:db8::/32"), classDocumentation}, // documentation
	{netip.MustParsePrefix("2002::/16"), classTranslation},       // 6to4
	{netip.MustParsePrefix("3fff::/20"), classDocumentation},     // documentation (RFC 9637)
	{netip.MustParsePrefix("fc00::/7"), classUniqueLocal},        // ULA
	{netip.MustParsePrefix("fe80::/10"), classLinkLocal},         // link-local
	{netip.MustParsePrefix("fec0::/10"), classPrivate},           // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), classMulticast},          // multicast
}

// globalUnicast6 is the only IPv6 block IANA delegates to registries for
// global unicast; everything outside it and not listed above is reserved.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// classify returns the class of the most specific special range holding ip
// (unmapped, without zone), or false if ip is public unicast.
func classify(ip netip.Addr) (string, bool) {
	best, bits := "", -1
	for _, r := range specialRanges {
		if r.prefix.Bits() > bits && r.prefix.Contains(ip) {
			best, bits = r.class, r.prefix.Bits()
		}
	}
	if bits >= 0 {
		return best, true
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return classReserved, true
	}
	return "", false
}
