package notify

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSendRetries(t *testing.T) {
	tests := []struct {
		statuses []int
		requests int
		fails    bool
	}{
		{[]int{503, 503}, 3, false},
		{[]int{429}, 2, false},
		{[]int{400}, 1, true},
		{[]int{404}, 1, true},
		{[]int{500, 502, 503}, 3, true},
	}
	for _, tt := range tests {
		r, base := serve(t, tt.statuses...)
		c := mustParse(t, map[string]string{"service.slack": "url: " + base}, nil)
		err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "slack"})
		if got := len(r.requests()); got != tt.requests || (err != nil) != tt.fails {
			t.Errorf("statuses %v: %d requests, error %v; want %d requests, failure %v",
				tt.statuses, got, err, tt.requests, tt.fails)
		}
	}
}

func TestSendRetriesNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	var attempts int
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		attempts++
		return http.DefaultTransport.RoundTrip(req)
	})}
	c := mustParse(t, map[string]string{"service.webhook.h": "url: http://" + addr + "/x?token=$tok"},
		map[string][]byte{"tok": []byte("very-secret")})
	ns, _ := c.Render(testEvent(TriggerDeployed), c.TemplatesOf(TriggerDeployed), Destination{Service: "h"})
	s := &Sender{Client: client, Backoff: []time.Duration{0}}
	err = s.Send(context.Background(), c, ns[0])
	if err == nil || attempts != 3 {
		t.Fatalf("error %v after %d attempts, want an error after 3", err, attempts)
	}
	if strings.Contains(err.Error(), "very-secret") || strings.Contains(err.Error(), "/x") {
		t.Errorf("error shows the URL: %v", err)
	}
	if !strings.Contains(err.Error(), "http://"+addr) {
		t.Errorf("error does not name the host: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendRedactsEchoedSecrets(t *testing.T) {
	r, base := serve(t, 400)
	r.reply = "bad token ghp_topsecret for url /services/T0/B0/hookpath?k=querysecret, key hmac-secret"
	c := mustParse(t, map[string]string{
		"service.github":    "token: $gh\nbaseURL: " + base,
		"service.slack":     "url: " + base + "/services/T0/B0/hookpath",
		"service.webhook.h": "url: " + base + "/x?k=querysecret\nhmacSecret: hmac-secret",
	}, map[string][]byte{"gh": []byte("ghp_topsecret")})
	for _, svc := range []string{"github", "slack", "h"} {
		r.statuses = []int{400}
		err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: svc})
		if err == nil {
			t.Fatalf("%s: no error", svc)
		}
		for _, secret := range []string{"ghp_topsecret", "hookpath", "querysecret", "hmac-secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains %q", svc, err, secret)
			}
		}
		if !strings.Contains(err.Error(), "400 Bad Request: bad token ***") {
			t.Errorf("%s: error %q does not show the (redacted) reply", svc, err)
		}
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	r, base := serve(t, 503, 503)
	c := mustParse(t, map[string]string{"service.slack": "url: " + base}, nil)
	ns, _ := c.Render(testEvent(TriggerSyncFailed), c.TemplatesOf(TriggerSyncFailed), Destination{Service: "slack"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := (&Sender{Backoff: []time.Duration{time.Hour}}).Send(ctx, c, ns[0])
	if !errors.Is(err, context.DeadlineExceeded) || len(r.requests()) != 1 {
		t.Errorf("error %v after %d requests", err, len(r.requests()))
	}
}

func TestSendInsecureSkipVerify(t *testing.T) {
	r := &recorder{}
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := mustParse(t, map[string]string{
		"service.webhook.insecure": "url: " + srv.URL + "\ninsecureSkipVerify: true",
		"service.webhook.strict":   "url: " + srv.URL,
	}, nil)
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "insecure"}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "strict"}); err == nil {
		t.Error("strict: a self-signed certificate was accepted")
	}
	if n := len(r.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	// The certificate failure is not retried.
	var attempts int
	s := &Sender{Client: &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		attempts++
		return http.DefaultTransport.RoundTrip(req)
	})}}
	ns, _ := c.Render(testEvent(TriggerDeployed), c.TemplatesOf(TriggerDeployed), Destination{Service: "strict"})
	if err := s.Send(context.Background(), c, ns[0]); err == nil || attempts != 1 {
		t.Errorf("strict: %v after %d attempts", err, attempts)
	}
}

// TestNothingToSendWithoutTheirPart: a template written for other services
// (the catalog's, with only a message for some) sends nothing to a service
// that needs its own section or a message, rather than failing each time.
func TestNothingToSendWithoutTheirPart(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.grafana":     "apiUrl: " + base + "\napiKey: k",
		"service.opsgenie":    "apiUrl: " + base + "\napiKeys: {team: k}",
		"service.pagerdutyv2": "url: " + base + "\nserviceKeys: {svc: k}",
		"template.empty":      "message: ''",
		"template.message":    "message: hi",
	}, nil)
	for _, tt := range []struct{ template, service, recipient string }{
		{"empty", "grafana", "a|b"}, {"empty", "opsgenie", "team"}, {"message", "pagerdutyv2", "svc"},
	} {
		ns, err := c.Render(testEvent(TriggerDeployed), []string{tt.template}, Destination{Service: tt.service, Recipient: tt.recipient})
		if err != nil {
			t.Fatal(err)
		}
		if err := fast.Send(t.Context(), c, ns[0]); !errors.Is(err, ErrNothingToSend) {
			t.Errorf("%s with template %s: %v, want nothing to send", tt.service, tt.template, err)
		}
	}
	if n := len(r.requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

// TestNoRedirectToAnotherHost: a service that redirects elsewhere does not
// get its headers (here a token) carried there.
func TestNoRedirectToAnotherHost(t *testing.T) {
	other, otherURL := serve(t)
	redirect := httptest.NewServer(http.RedirectHandler(otherURL+"/stolen", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	c := mustParse(t, map[string]string{
		"service.webhook.h": "url: " + redirect.URL + "\nheaders: [{name: X-Token, value: $t}]",
	}, map[string][]byte{"t": []byte("tok-123")})
	err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "h"})
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Errorf("error %v, want the redirect refused", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}
