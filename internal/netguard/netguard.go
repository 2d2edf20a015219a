// Package netguard keeps Ferry's outbound connections (Git, registries,
// notification services) away from addresses a tenant should never reach
// through the controller: link-local addresses, where cloud providers serve
// instance metadata and credentials (169.254.169.254, fd00:ec2::254).
//
// Who can write an Application, an ImageRepository or a notification
// service URL picks where the controller connects; without this guard the
// controller's cloud credentials are one URL away. Hand-written: the check
// is a few lines over net, and no library of this field offers it.
//
// HTTP clients get the check at dial time (Dialer.Control sees the address
// actually connected to, after DNS, so a name that resolves to a metadata
// address is refused too). go-git picks its transports from a process-wide
// table, so Git URLs are checked by resolving the host before each remote
// operation (CheckHost); a DNS answer that changes between the check and
// go-git's own lookup is not covered there.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal, so callers can tell a refused
// address (a spec that cannot work until it changes, or a flag is given)
// from a network failure worth retrying.
var ErrRefused = errors.New("refused")

// Policy says which addresses outbound connections may reach. The zero
// value is the safe default.
type Policy struct {
	// AllowLinkLocal lets connections reach link-local and cloud metadata
	// addresses (--allow-link-local-addresses).
	AllowLinkLocal bool
	// Resolver resolves host names for CheckHost; nil means net.DefaultResolver.
	Resolver Resolver
}

// Resolver resolves a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// metadata are instance metadata addresses outside the link-local ranges.
var metadata = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"), // AWS IMDS over IPv6
}

// refused reports whether addr may not be connected to.
func (p Policy) refused(addr netip.Addr) bool {
	if p.AllowLinkLocal {
		return false
	}
	addr = addr.Unmap()
	if addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() {
		return true
	}
	for _, m := range metadata {
		if addr == m {
			return true
		}
	}
	return false
}

func refusal(host string, addr netip.Addr) error {
	if host == addr.String() {
		return fmt.Errorf("%w: %s is a link-local (cloud metadata) address; --allow-link-local-addresses allows it", ErrRefused, addr)
	}
	return fmt.Errorf("%w: %s resolves to %s, a link-local (cloud metadata) address; --allow-link-local-addresses allows it", ErrRefused, host, addr)
}

// CheckHost refuses host (a name or an IP literal, with or without a port)
// when it is, or resolves to, an address the policy refuses. A host that
// does not resolve passes: the connection fails on its own, with the
// resolver's error.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	if p.AllowLinkLocal || host == "" {
		return nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if addr, err := netip.ParseAddr(trimBrackets(host)); err == nil {
		if p.refused(addr) {
			return refusal(host, addr)
		}
		return nil
	}
	var r Resolver = net.DefaultResolver
	if p.Resolver != nil {
		r = p.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, addr := range addrs {
		if p.refused(addr) {
			return refusal(host, addr)
		}
	}
	return nil
}

// CheckURL is CheckHost for the host of rawURL; a URL without a host (a
// file:// URL) or one that does not parse passes, left to its reader.
func (p Policy) CheckURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	return p.CheckHost(ctx, u.Host)
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// Control is a net.Dialer Control function refusing connections to
// addresses the policy refuses; address is the resolved "ip:port".
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err == nil && p.refused(addr) {
		return refusal(host, addr)
	}
	return nil
}

// Transport returns a copy of http.DefaultTransport whose connections are
// checked by Control (proxies included: the proxy's address is what is
// dialled).
func (p Policy) Transport() *http.Transport {
	return p.Guard(http.DefaultTransport)
}

// Guard returns a copy of base (an *http.Transport; anything else is
// replaced by http.DefaultTransport) whose connections are checked by
// Control.
func (p Policy) Guard(base http.RoundTripper) *http.Transport {
	t, ok := base.(*http.Transport)
	if !ok {
		t = http.DefaultTransport.(*http.Transport)
	}
	t = t.Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}
	t.DialContext = d.DialContext
	return t
}
