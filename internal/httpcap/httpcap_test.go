package httpcap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// get sends one request through Transport(inner, limit) and returns the
// capped body.
func get(t *testing.T, inner http.RoundTripper, limit int64) io.ReadCloser {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://registry.example/v2/", nil)
	resp, err := Transport(inner, limit).RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	return resp.Body
}

// serving answers every request with body.
func serving(body io.Reader) http.RoundTripper {
	return roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(body)}, nil
	})
}

func TestBody(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		limit    int64
		oneByte  bool // the server's body yields one byte per Read
		tooLarge bool
	}{
		{name: "empty, nothing allowed", size: 0, limit: 0},
		{name: "under the cap", size: 99, limit: 100},
		{name: "exactly at the cap", size: 100, limit: 100},
		{name: "exactly at the cap, one byte per read", size: 100, limit: 100, oneByte: true},
		{name: "one byte over", size: 101, limit: 100, tooLarge: true},
		{name: "one byte over, one byte per read", size: 101, limit: 100, oneByte: true, tooLarge: true},
		{name: "far over", size: 1 << 20, limit: 100, tooLarge: true},
		{name: "one byte, nothing allowed", size: 1, limit: 0, tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := bytes.Repeat([]byte("x"), tt.size)
			var src io.Reader = bytes.NewReader(content)
			if tt.oneByte {
				src = iotest.OneByteReader(src)
			}
			body := get(t, serving(src), tt.limit)
			defer body.Close()

			data, err := io.ReadAll(body)
			if !tt.tooLarge {
				if err != nil || !bytes.Equal(data, content) {
					t.Fatalf("read %d bytes, err %v; want all %d bytes", len(data), err, tt.size)
				}
				return
			}
			var tooLarge *TooLargeError
			if !errors.As(err, &tooLarge) || tooLarge.Limit != tt.limit {
				t.Fatalf("err = %v; want a *TooLargeError with Limit %d", err, tt.limit)
			}
			if int64(len(data)) > tt.limit {
				t.Errorf("read %d bytes past the %d bytes cap", len(data), tt.limit)
			}
			// The error sticks: a caller that reads on must not see a
			// clean end of a truncated body.
			if n, err := body.Read(make([]byte, 10)); n != 0 || !errors.As(err, &tooLarge) {
				t.Errorf("Read after the error = %d, %v; want 0 and the *TooLargeError", n, err)
			}
		})
	}
}

func TestTooLargeError(t *testing.T) {
	err := fmt.Errorf("listing tags: %w", &TooLargeError{Limit: 4096})
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 4096 {
		t.Fatalf("errors.As(%v) = %v", err, tooLarge)
	}
	if !strings.Contains(err.Error(), "4096 bytes") {
		t.Errorf("message %q does not name the cap", err)
	}
}

// closeRecorder is a response body that records Close.
type closeRecorder struct {
	io.Reader
	closed int
	err    error
}

func (c *closeRecorder) Close() error {
	c.closed++
	return c.err
}

func TestClosePassesThrough(t *testing.T) {
	errClose := errors.New("close failed")
	rec := &closeRecorder{Reader: strings.NewReader("too long"), err: errClose}
	inner := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: rec}, nil
	})
	body := get(t, inner, 3)
	if _, err := io.ReadAll(body); err == nil {
		t.Fatal("read a body over the cap without an error")
	}
	if err := body.Close(); !errors.Is(err, errClose) || rec.closed != 1 {
		t.Errorf("Close = %v after %d closes; want the inner body closed once and its error", err, rec.closed)
	}
}

func TestRoundTripError(t *testing.T) {
	errDial := errors.New("dial refused")
	inner := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errDial })
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://registry.example/v2/", nil)
	resp, err := Transport(inner, 10).RoundTrip(req)
	if resp != nil || !errors.Is(err, errDial) {
		t.Errorf("RoundTrip = %v, %v; want nil and the inner error", resp, err)
	}
}

// TestEndlessServer is the case the cap is for: a server that streams a
// body forever (bounded here so that a broken cap fails instead of hanging).
func TestEndlessServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 2048 { // 64 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	client := &http.Client{Transport: Transport(srv.Client().Transport, 1<<20)}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || len(data) != 1<<20 {
		t.Errorf("read %d bytes, err %v; want the 1 MiB cap and a *TooLargeError", len(data), err)
	}
}
