// Package httpcap caps the bytes read from each HTTP response body.
//
// A container registry or chart repository is a remote party Ferry does not
// control. A hostile or broken one can answer with a body that never ends,
// and the libraries Ferry calls read some bodies whole (go-containerregistry
// decodes a tag list page without any size limit), so such a body would be
// read until memory runs out. net/http has no cap per response
// (http.MaxBytesReader is for the bodies of requests a server receives), so
// this package wraps the client's transport:
//
//	rt := httpcap.Transport(http.DefaultTransport, 32<<20)
//
// Reading a response body past the limit fails with a *TooLargeError, which
// callers match with errors.As to say which cap was hit in their own words.
package httpcap

import (
	"fmt"
	"io"
	"net/http"
)

// Transport returns a RoundTripper that sends each request through inner
// and caps the body of each response at limit bytes. A body of exactly limit
// bytes reads whole; reading past it fails with a *TooLargeError, and so
// does every later Read of that body. A limit of 0 allows only empty bodies.
func Transport(inner http.RoundTripper, limit int64) http.RoundTripper {
	return &transport{inner: inner, limit: limit}
}

type transport struct {
	inner http.RoundTripper
	limit int64
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &body{rc: resp.Body, left: t.limit, limit: t.limit}
	return resp, nil
}

// body counts down the bytes a response body may still yield.
type body struct {
	rc          io.ReadCloser
	left, limit int64
	err         error // the *TooLargeError, once the body went past the limit
}

func (b *body) Read(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case len(p) == 0:
		return 0, nil
	case b.left <= 0:
		// One byte more tells a body of exactly limit bytes from a longer
		// one. It is never returned: the caller sees limit bytes at most.
		n, err := b.rc.Read(p[:1])
		if n > 0 {
			b.err = &TooLargeError{Limit: b.limit}
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close closes the underlying body.
func (b *body) Close() error { return b.rc.Close() }

// TooLargeError reports a response body longer than the cap.
type TooLargeError struct {
	Limit int64 // the cap, in bytes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("response body exceeds the cap of %d bytes", e.Limit)
}
