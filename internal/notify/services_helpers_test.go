package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one request a recorder saw.
type received struct {
	method, uri string
	header      http.Header
	body        string
}

// recorder is a test endpoint answering with statuses in turn (then 200),
// each with body reply.
type recorder struct {
	mu       sync.Mutex
	reqs     []received
	statuses []int
	reply    string
	// replies, when it has the request's "METHOD /path" (no query), is
	// the body to answer instead of reply.
	replies map[string]string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, received{req.Method, req.RequestURI, req.Header.Clone(), string(body)})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	reply := r.reply
	if b, ok := r.replies[req.Method+" "+req.URL.Path]; ok {
		reply = b
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func serve(t *testing.T, statuses ...int) (*recorder, string) {
	t.Helper()
	r := &recorder{statuses: statuses}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

var fast = &Sender{Backoff: []time.Duration{time.Millisecond}}

// deliver renders ev for d and sends every notification.
func deliver(t *testing.T, c *Config, ev Event, d Destination) error {
	t.Helper()
	ns, err := c.Render(ev, c.TemplatesOf(ev.Trigger), d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for _, n := range ns {
		if err := fast.Send(context.Background(), c, n); err != nil && !errors.Is(err, ErrNothingToSend) {
			return err
		}
	}
	return nil
}

func only(t *testing.T, r *recorder) received {
	t.Helper()
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// failsSafely checks that a delivery failed with an error saying each of
// want and showing none of secrets.
func failsSafely(t *testing.T, err error, want []string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows a secret", err)
		}
	}
}
