// Package netguard keeps monitor checks away from internal networks (SSRF).
//
// The api uses CheckURL to refuse a monitor URL when it is created; the
// checker dials through Dialer (or sets Control on its own net.Dialer) so the
// address is checked again after DNS resolution, right before connect. Only
// the dial-time check is authoritative: DNS answers change between
// validation and check (rebinding), and redirects lead to new hosts. It holds
// only if the HTTP client dials directly, so the checker's Transport must
// have Proxy nil.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrInvalidURL is wrapped by every CheckURL error caused by the URL itself:
// syntax, scheme, host, credentials or port.
var ErrInvalidURL = errors.New("invalid url")

// ErrForbiddenAddress is wrapped by every error refusing a destination that
// is not public unicast (loopback, private, link-local, ...) and not in the
// operator allowlist, and by CheckURL for local-only host names.
var ErrForbiddenAddress = errors.New("forbidden destination address")

// ErrUnresolvable is wrapped by CheckURL when the host name does not resolve
// to any address.
var ErrUnresolvable = errors.New("host does not resolve")

// guardError carries a message fit for a user (an api 400 body) while still
// matching its sentinel with errors.Is; fmt.Errorf("%w: ...") would prefix
// every message with the sentinel's text.
type guardError struct {
	sentinel error
	msg      string
}

func (e *guardError) Error() string { return e.msg }
func (e *guardError) Unwrap() error { return e.sentinel }

func invalidURL(format string, args ...any) error {
	return &guardError{sentinel: ErrInvalidURL, msg: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &guardError{sentinel: ErrForbiddenAddress, msg: fmt.Sprintf(format, args...)}
}

// Resolver looks up the addresses of a host name. net.DefaultResolver
// satisfies it; tests pass a fake.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which destination addresses checks may reach. It is
// immutable after New and safe for concurrent use.
type Guard struct {
	allow []netip.Prefix
}

// New returns a Guard that refuses every address that is not public unicast,
// except those inside one of the allow prefixes (the allowlist wins over the
// built-in ranges). Prefixes are masked and IPv4-mapped IPv6 prefixes are
// turned into IPv4 ones; invalid prefixes match nothing.
func New(allow []netip.Prefix) *Guard {
	g := &Guard{allow: make([]netip.Prefix, 0, len(allow))}
	for _, p := range allow {
		if p.IsValid() {
			g.allow = append(g.allow, normalizePrefix(p))
		}
	}
	return g
}

// ParseAllowlist parses an operator allowlist (SSRF_ALLOWLIST): CIDR
// prefixes or single IP addresses separated by commas, for example
// "127.0.0.0/8,::1". Blanks around entries and empty entries are ignored, so
// "" means no allowlist. Every bad entry is reported, by name. A prefix with
// host bits set ("10.1.2.3/8") is refused rather than silently widened.
func ParseAllowlist(s string) ([]netip.Prefix, error) {
	var (
		prefixes []netip.Prefix
		errs     []error
	)
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseAllowEntry(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowlist entry %q: %w", entry, err))
			continue
		}
		prefixes = append(prefixes, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return prefixes, nil
}

func parseAllowEntry(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		ip, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
		}
		if ip.Zone() != "" {
			return netip.Prefix{}, errors.New("IPv6 zones are not allowed")
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits set, did you mean %s?", p.Masked())
	}
	return normalizePrefix(p), nil
}

// normalizePrefix masks p and rewrites an IPv4-mapped prefix
// (::ffff:10.0.0.0/104) as IPv4 (10.0.0.0/8), because CheckAddr compares
// unmapped addresses and Prefix.Contains never matches across families.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return p // covers more than the mapped block; keep it IPv6
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// allowed reports whether ip (unmapped, without zone) is in the allowlist.
func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckAddr returns nil if checks may connect to ip: it is public unicast or
// inside the allowlist. Otherwise the error wraps ErrForbiddenAddress and
// names the address and its range class ("loopback", "private",
// "link-local", ...). IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry (::ffff:169.254.169.254 is link-local); zones are
// ignored.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return forbidden("address is missing or invalid")
	}
	ip = ip.Unmap().WithZone("")
	if g.allowed(ip) {
		return nil
	}
	if class, ok := classify(ip); ok {
		return forbidden("address %s is not allowed (%s range)", ip, class)
	}
	return nil
}

// CheckURL parses raw and returns it if a check may fetch it: scheme http or
// https, a host, no credentials, a port (if any) in 1..65535, and a host
// that is a public IP literal or a name whose every address passes
// CheckAddr. Local-only names (localhost, *.localhost, *.local, *.internal)
// pass only if they resolve into the allowlist. A nil resolver means
// net.DefaultResolver; ctx bounds the lookup.
//
// Errors wrap ErrInvalidURL, ErrForbiddenAddress or ErrUnresolvable and
// their messages can be shown to the user as they are.
func (g *Guard) CheckURL(ctx context.Context, raw string, resolver Resolver) (*url.URL, error) {
	u, host, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	if strings.Contains(host, ":") { // url.Parse only lets IPv6 literals through brackets
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, invalidURL("url host %q is not a valid IP address", host)
		}
		if err := g.CheckAddr(ip); err != nil {
			return nil, err
		}
		return u, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := g.CheckAddr(ip); err != nil {
			return nil, err
		}
		return u, nil
	}
	if endsInNumber(host) {
		// "127.1", "0x7f.1" or "2130706433": some resolvers and browsers
		// read these as IPv4; no public DNS name looks like this.
		return nil, invalidURL("url host %q is neither a hostname nor a valid IP address", host)
	}
	if err := g.checkName(ctx, host, resolver); err != nil {
		return nil, err
	}
	return u, nil
}

// parseURL does the syntactic checks and returns the URL and its lower-case
// host without brackets or trailing dot.
func parseURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the url.Error text repeats the whole input
		}
		return nil, "", invalidURL("url cannot be parsed: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" { // url.Parse lower-cases the scheme
		return nil, "", invalidURL("url must use http or https")
	}
	if u.User != nil {
		return nil, "", invalidURL("url must not contain credentials")
	}
	host := u.Hostname()
	if host == "" {
		return nil, "", invalidURL("url must have a host")
	}
	if strings.Contains(host, "%") {
		return nil, "", invalidURL("url host must not contain an IPv6 zone")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, "", invalidURL("url port must be between 1 and 65535")
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return nil, "", invalidURL("url must have a host")
	}
	return u, host, nil
}

// endsInNumber follows the WHATWG URL rule for hosts that are parsed as
// IPv4: the last label is decimal digits or 0x-prefixed hex.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		last = last[2:]
		return strings.Trim(last, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// isLocalName reports names that by convention (RFC 6761, RFC 6762,
// cloud providers' metadata names) only resolve inside a network.
func isLocalName(host string) bool {
	return host == "localhost" ||
		strings.HasSuffix(host, ".localhost") ||
		strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal")
}

// checkName resolves host and requires every address to pass.
func (g *Guard) checkName(ctx context.Context, host string, resolver Resolver) error {
	local := isLocalName(host)
	if local && len(g.allow) == 0 {
		// Nothing could make it pass: refuse without a lookup.
		return forbidden("host %s is a local name and is not allowed", host)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return &guardError{sentinel: ErrUnresolvable, msg: fmt.Sprintf("host %s does not resolve", host)}
	}
	for _, ip := range addrs {
		if local && !g.allowed(ip.Unmap().WithZone("")) {
			return forbidden("host %s is a local name and resolves to %s, outside the allowlist", host, ip.Unmap())
		}
		if err := g.CheckAddr(ip); err != nil {
			return fmt.Errorf("host %s resolves to a forbidden address: %w", host, err)
		}
	}
	return nil
}

// Control is a net.Dialer Control function: it runs after resolution, just
// before connect, with the exact ip:port about to be dialed, and refuses it
// unless CheckAddr passes. Checking here rather than only at validation is
// what defeats DNS rebinding and redirects to internal addresses. Non-IP
// networks (unix sockets) and unparsable addresses are refused.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return forbidden("network %q is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return forbidden("dial address %q is not an IP address and port", address)
	}
	return g.CheckAddr(ap.Addr())
}

// keepAlive matches net/http.DefaultTransport: dead peers of pooled
// connections are noticed without holding idle sockets forever.
const keepAlive = 30 * time.Second

// Dialer returns a net.Dialer guarded by Control, with the given connect
// timeout and TCP keep-alive on. Use its DialContext as the checker's
// http.Transport.DialContext, with Proxy nil.
func (g *Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: keepAlive,
		Control:   g.Control,
	}
}
