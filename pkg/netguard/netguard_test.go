package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/netguard"
)

func TestCheckAddrRefusesSpecialRanges(t *testing.T) {
	tests := []struct {
		addr  string
		class string
	}{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.0.1", "loopback"},
		{"169.254.169.254", "link-local"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "reserved"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4/teredo/NAT64 translation"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.254", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::10.0.0.1", "reserved"},
		{"::8.8.8.8", "reserved"},
		{"64:ff9b::a00:1", "6to4/teredo/NAT64 translation"},
		{"64:ff9b::8.8.8.8", "6to4/teredo/NAT64 translation"},
		{"64:ff9b:1::1", "6to4/teredo/NAT64 translation"},
		{"100::1", "reserved"},
		{"2001::1", "6to4/teredo/NAT64 translation"},
		{"2001:2::1", "benchmarking"},
		{"2001:10::1", "reserved"},
		{"2001:db8::1", "documentation"},
		{"2002:a00:1::1", "6to4/teredo/NAT64 translation"},
		{"3fff::1", "documentation"},
		{"fc00::1", "unique local"},
		{"fd12:3456:789a::1", "unique local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "private"},
		{"ff02::1", "multicast"},
		{"ff0e::1", "multicast"},
		{"4000::1", "reserved"},
		{"5f00::1", "reserved"},
	}
	g := netguard.New(nil)
	for _, tt := range tests {
		t.Run(tt.addr+" is refused as "+tt.class, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			require.ErrorIs(t, err, netguard.ErrForbiddenAddress)
			assert.Contains(t, err.Error(), "("+tt.class+" range)")
			unmapped := netip.MustParseAddr(tt.addr).Unmap().WithZone("").String()
			assert.Contains(t, err.Error(), unmapped)
		})
	}
}

func TestCheckAddrAllowsPublicUnicast(t *testing.T) {
	g := netguard.New(nil)
	for _, addr := range []string{
		"8.8.8.8",
		"1.1.1.1",
		"93.184.215.14",
		"100.63.255.255",  // just below CGNAT
		"100.128.0.0",     // just above CGNAT
		"172.15.255.255",  // just below 172.16/12
		"172.32.0.0",      // just above 172.16/12
		"192.0.1.1",       // between 192.0.0/24 and 192.0.2/24
		"223.255.255.255", // just below multicast
		"::ffff:8.8.8.8",
		"2606:4700:4700::1111",
		"2a00:1450:4001:80b::200e",
		"2001:4860:4860::8888",
	} {
		t.Run(addr+" is allowed", func(t *testing.T) {
			assert.NoError(t, g.CheckAddr(netip.MustParseAddr(addr)))
		})
	}
}

func TestCheckAddrRefusesTheZeroAddr(t *testing.T) {
	err := netguard.New(nil).CheckAddr(netip.Addr{})
	assert.ErrorIs(t, err, netguard.ErrForbiddenAddress)
}

func TestAllowlistLetsOnlyItsPrefixesThrough(t *testing.T) {
	g := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	tests := []struct {
		name    string
		addr    string
		allowed bool
	}{
		{"the allowlisted loopback address passes", "127.0.0.1", true},
		{"its IPv4-mapped form passes too", "::ffff:127.0.0.1", true},
		{"another loopback address is still refused", "127.0.0.2", false},
		{"IPv6 loopback is still refused", "::1", false},
		{"private space is still refused", "10.0.0.1", false},
		{"the metadata address is still refused", "169.254.169.254", false},
		{"public addresses are unaffected", "8.8.8.8", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.allowed {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, netguard.ErrForbiddenAddress)
			}
		})
	}
}

func TestNewNormalizesMappedAllowlistPrefixes(t *testing.T) {
	g := netguard.New([]netip.Prefix{netip.MustParsePrefix("::ffff:10.1.0.0/112")})
	assert.NoError(t, g.CheckAddr(netip.MustParseAddr("10.1.2.3")))
	assert.ErrorIs(t, g.CheckAddr(netip.MustParseAddr("10.2.0.1")), netguard.ErrForbiddenAddress)
}

func TestParseAllowlist(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"an empty string means no allowlist", "", nil},
		{"blanks and empty entries are ignored", " , ,", nil},
		{"prefixes and single addresses are accepted", "127.0.0.0/8,::1", []string{"127.0.0.0/8", "::1/128"}},
		{"a single IPv4 becomes a /32", " 10.0.0.7 ", []string{"10.0.0.7/32"}},
		{"an IPv4-mapped address becomes IPv4", "::ffff:10.0.0.7", []string{"10.0.0.7/32"}},
		{"an IPv4-mapped prefix becomes IPv4", "::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := netguard.ParseAllowlist(tt.in)
			require.NoError(t, err)
			var strs []string
			for _, p := range got {
				strs = append(strs, p.String())
			}
			assert.Equal(t, tt.want, strs)
		})
	}
}

func TestParseAllowlistNamesEveryBadEntry(t *testing.T) {
	tests := []struct {
		name string
		in   string
		bad  []string
	}{
		{"a hostname is refused", "127.0.0.1,localhost", []string{`"localhost"`}},
		{"a malformed prefix is refused", "10.0.0.0/33", []string{`"10.0.0.0/33"`}},
		{"a prefix with host bits is refused", "10.1.2.3/8", []string{`"10.1.2.3/8"`, "10.0.0.0/8"}},
		{"a zone is refused", "fe80::1%eth0", []string{`"fe80::1%eth0"`}},
		{"all bad entries are reported", "x,10.0.0.0/8,y", []string{`"x"`, `"y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := netguard.ParseAllowlist(tt.in)
			require.Error(t, err)
			assert.Nil(t, got)
			for _, s := range tt.bad {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

// fakeResolver answers from a map; a missing host fails like NXDOMAIN.
type fakeResolver struct {
	hosts   map[string][]string
	lookups []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups = append(r.lookups, host)
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{
		"example.com":       {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"mapped.example":    {"::ffff:93.184.215.14"}, // what net.Resolver returns for A records
		"mixed.example":     {"93.184.215.14", "10.0.0.5"},
		"metadata.example":  {"::ffff:169.254.169.254"},
		"empty.example":     {},
		"localhost":         {"127.0.0.1", "::1"},
		"app.localhost":     {"127.0.0.1"},
		"printer.local":     {"192.168.1.20"},
		"db.internal":       {"10.0.0.9"},
		"public.internal":   {"8.8.8.8"},
		"rebind.example":    {"127.0.0.1"},
		"xn--mller-kva.de":  {"8.8.4.4"},
		"trailing.example":  {"8.8.4.4"},
		"uppercase.example": {"8.8.4.4"},
	}}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr error
		msg     string // substring of the error message, when wantErr is set
	}{
		{"a name resolving to public addresses is accepted", "https://example.com/health", nil, ""},
		{"an upper-case scheme and host are accepted", "HTTP://EXAMPLE.COM", nil, ""},
		{"a fully qualified name with trailing dot is accepted", "http://trailing.example./", nil, ""},
		{"resolver answers in IPv4-mapped form are judged as IPv4", "http://mapped.example/", nil, ""},
		{"a public IPv4 literal with port is accepted", "http://8.8.8.8:8080/", nil, ""},
		{"a public bracketed IPv6 literal is accepted", "https://[2606:4700:4700::1111]/", nil, ""},
		{"an explicit port 65535 is accepted", "http://example.com:65535/", nil, ""},
		{"an empty port means the default", "http://example.com:/", nil, ""},

		{"ftp is refused", "ftp://example.com/", netguard.ErrInvalidURL, "url must use http or https"},
		{"javascript is refused", "javascript:alert(1)", netguard.ErrInvalidURL, "url must use http or https"},
		{"a scheme-relative url is refused", "//example.com", netguard.ErrInvalidURL, "url must use http or https"},
		{"a url without host is refused", "http://", netguard.ErrInvalidURL, "url must have a host"},
		{"an opaque http url is refused", "http:example.com", netguard.ErrInvalidURL, "url must have a host"},
		{"credentials are refused", "http://user:pass@example.com", netguard.ErrInvalidURL, "credentials"},
		{"an empty userinfo is refused", "http://@example.com", netguard.ErrInvalidURL, "credentials"},
		{"an IPv6 zone is refused", "http://[fe80::1%25eth0]/", netguard.ErrInvalidURL, "zone"},
		{"port 0 is refused", "http://example.com:0/", netguard.ErrInvalidURL, "between 1 and 65535"},
		{"port 70000 is refused", "http://example.com:70000/", netguard.ErrInvalidURL, "between 1 and 65535"},
		{"an unparsable url is refused", "http://exa mple.com/", netguard.ErrInvalidURL, "url cannot be parsed"},
		{"a short-form IPv4 host is refused", "http://127.1/", netguard.ErrInvalidURL, "neither a hostname"},
		{"a hex IPv4 host is refused", "http://0x7f.0.0.1/", netguard.ErrInvalidURL, "neither a hostname"},
		{"a decimal IPv4 host is refused", "http://2130706433/", netguard.ErrInvalidURL, "neither a hostname"},

		{"a name resolving to one public and one private address is refused", "http://mixed.example/", netguard.ErrForbiddenAddress, "10.0.0.5"},
		{"a name resolving to the metadata address is refused", "http://metadata.example/", netguard.ErrForbiddenAddress, "169.254.169.254 is not allowed (link-local range)"},
		{"a loopback IPv4 literal is refused", "http://127.0.0.1:8080/", netguard.ErrForbiddenAddress, "loopback"},
		{"a mapped metadata IPv6 literal is refused", "http://[::ffff:169.254.169.254]/", netguard.ErrForbiddenAddress, "link-local"},
		{"a private IPv4 literal is refused", "http://10.0.0.1/", netguard.ErrForbiddenAddress, "private"},
		{"localhost is refused", "http://localhost:8080/", netguard.ErrForbiddenAddress, "local name"},
		{"localhost with trailing dot is refused", "http://LOCALHOST./", netguard.ErrForbiddenAddress, "local name"},
		{"a .localhost name is refused", "http://app.localhost/", netguard.ErrForbiddenAddress, "local name"},
		{"a .local name is refused", "http://printer.local/", netguard.ErrForbiddenAddress, "local name"},
		{"a .internal name is refused even if public", "http://public.internal/", netguard.ErrForbiddenAddress, "local name"},

		{"an unresolvable name is refused", "http://nxdomain.example/", netguard.ErrUnresolvable, "host nxdomain.example does not resolve"},
		{"a name with no addresses is refused", "http://empty.example/", netguard.ErrUnresolvable, "does not resolve"},
	}
	g := netguard.New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := g.CheckURL(t.Context(), tt.raw, newFakeResolver())
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.NotNil(t, u)
				assert.Contains(t, []string{"http", "https"}, u.Scheme)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, u)
			assert.Contains(t, err.Error(), tt.msg)
			for _, other := range []error{netguard.ErrInvalidURL, netguard.ErrForbiddenAddress, netguard.ErrUnresolvable} {
				if !errors.Is(tt.wantErr, other) {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestCheckURLDoesNotResolveLocalNamesWithoutAllowlist(t *testing.T) {
	r := newFakeResolver()
	_, err := netguard.New(nil).CheckURL(t.Context(), "http://localhost/", r)
	require.ErrorIs(t, err, netguard.ErrForbiddenAddress)
	assert.Empty(t, r.lookups)
}

func TestCheckURLWithAllowlist(t *testing.T) {
	g := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	tests := []struct {
		name    string
		raw     string
		wantErr error
	}{
		{"localhost resolving into the allowlist is accepted", "http://localhost:8080/", nil},
		{"a .localhost name resolving into the allowlist is accepted", "http://app.localhost/", nil},
		{"a loopback literal in the allowlist is accepted", "http://127.0.0.1/", nil},
		{"a public name is still accepted", "http://example.com/", nil},
		{"a .local name outside the allowlist is still refused", "http://printer.local/", netguard.ErrForbiddenAddress},
		{"a .internal name resolving to a public address is refused", "http://public.internal/", netguard.ErrForbiddenAddress},
		{"private space outside the allowlist is still refused", "http://db.internal/", netguard.ErrForbiddenAddress},
		{"an unresolvable local name is unresolvable", "http://nothing.local/", netguard.ErrUnresolvable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.CheckURL(t.Context(), tt.raw, newFakeResolver())
			if tt.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestControl(t *testing.T) {
	g := netguard.New(nil)
	tests := []struct {
		name    string
		network string
		address string
		allowed bool
	}{
		{"a public IPv4 address is allowed", "tcp4", "8.8.8.8:443", true},
		{"a public IPv6 address is allowed", "tcp6", "[2606:4700:4700::1111]:443", true},
		{"a loopback address is refused", "tcp4", "127.0.0.1:80", false},
		{"a mapped metadata address is refused", "tcp6", "[::ffff:169.254.169.254]:80", false},
		{"a link-local address with zone is refused", "tcp6", "[fe80::1%eth0]:80", false},
		{"a unix socket is refused", "unix", "/var/run/docker.sock", false},
		{"an unresolved host name is refused", "tcp", "example.com:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.Control(tt.network, tt.address, nil)
			if tt.allowed {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, netguard.ErrForbiddenAddress)
			}
		})
	}
}

// listen opens a loopback listener that accepts and closes connections until
// the test ends.
func listen(t *testing.T) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln
}

func TestDialerRefusesLoopbackAtDialTime(t *testing.T) {
	ln := listen(t)
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)

	tests := []struct {
		name    string
		allow   []netip.Prefix
		address string
		wantErr bool
	}{
		{"a loopback dial is refused without allowlist", nil, ln.Addr().String(), true},
		{"a name resolving to loopback is refused after resolution", nil, net.JoinHostPort("localhost", port), true},
		{"a loopback dial succeeds when 127.0.0.0/8 is allowlisted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, ln.Addr().String(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := netguard.New(tt.allow).Dialer(time.Second)
			conn, err := d.DialContext(t.Context(), "tcp", tt.address)
			if !tt.wantErr {
				require.NoError(t, err)
				require.NoError(t, conn.Close())
				return
			}
			require.ErrorIs(t, err, netguard.ErrForbiddenAddress)
			assert.Nil(t, conn)
			assert.Contains(t, err.Error(), "loopback")
		})
	}
}

func TestDialerIsConfigured(t *testing.T) {
	d := netguard.New(nil).Dialer(5 * time.Second)
	assert.Equal(t, 5*time.Second, d.Timeout)
	assert.Positive(t, d.KeepAlive)
	assert.NotNil(t, d.Control)
}

func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{
		"::", "::1", "::ffff:169.254.169.254", "::ffff:8.8.8.8", "::ffff:10.0.0.1",
		"64:ff9b::a00:1", "2001:db8::1", "2606:4700:4700::1111", "fe80::1", "ff02::1", "fc00::1",
	} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	g := netguard.New(nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b [16]byte
		copy(b[:], raw)
		ip := netip.AddrFrom16(b)
		err := g.CheckAddr(ip)
		if err != nil {
			require.ErrorIs(t, err, netguard.ErrForbiddenAddress)
			require.True(t, strings.Contains(err.Error(), "range)"), "error %q names no range", err)
			return
		}
		u := ip.Unmap()
		require.True(t, u.IsGlobalUnicast(), "%s allowed but not global unicast", u)
		require.False(t, u.IsPrivate(), "%s allowed but private", u)
		require.False(t, u.IsLoopback() || u.IsLinkLocalUnicast() || u.IsMulticast() || u.IsUnspecified(), "%s allowed", u)
	})
}
