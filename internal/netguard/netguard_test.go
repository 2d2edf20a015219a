package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host    string
		refused bool
	}{
		{"169.254.169.254", true},
		{"169.254.169.254:80", true},
		{"[fe80::1]:443", true},
		{"fe80::1", true},
		{"[fd00:ec2::254]", true},
		{"::ffff:169.254.169.254", true},
		{"127.0.0.1:8080", false},
		{"10.0.0.1", false},
		{"192.168.1.1", false},
		{"localhost", false},
		{"", false},
	}
	for _, tt := range tests {
		err := Policy{}.CheckHost(t.Context(), tt.host)
		if got := errors.Is(err, ErrRefused); got != tt.refused {
			t.Errorf("CheckHost(%q) = %v, want refused %v", tt.host, err, tt.refused)
		}
		if err := (Policy{AllowLinkLocal: true}).CheckHost(t.Context(), tt.host); err != nil {
			t.Errorf("CheckHost(%q) with AllowLinkLocal = %v", tt.host, err)
		}
	}
}

type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestCheckHostResolves checks that a name resolving to a metadata address
// among others is refused, and that other names pass.
func TestCheckHostResolves(t *testing.T) {
	r := staticResolver{
		"metadata.example.internal": {netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("169.254.169.254")},
		"git.example.com":           {netip.MustParseAddr("203.0.113.7")},
	}
	if err := (Policy{Resolver: r}).CheckHost(t.Context(), "git.example.com:443"); err != nil {
		t.Errorf("CheckHost(git.example.com) = %v", err)
	}
	if err := (Policy{Resolver: r}).CheckHost(t.Context(), "unknown.example.com"); err != nil {
		t.Errorf("CheckHost(unknown.example.com) = %v; a name that does not resolve is left to the dial", err)
	}
	err := Policy{Resolver: r}.CheckHost(t.Context(), "metadata.example.internal")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "metadata.example.internal resolves to 169.254.169.254") {
		t.Fatalf("CheckHost(metadata.example.internal) = %v, want a refusal naming the name and the address", err)
	}
}

// TestTransportRefusesAtDial checks the HTTP transport: a loopback server
// is reached, a link-local address is refused before any packet is sent.
func TestTransportRefusesAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	c := &http.Client{Transport: Policy{}.Transport()}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET loopback: %v", err)
	}
	resp.Body.Close()
	_, err = c.Get("http://169.254.169.254/latest/meta-data/")
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("GET metadata address: %v, want refused", err)
	}
}
