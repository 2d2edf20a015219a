package uitest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferrycd/ferry/internal/ui/uitest"
)

// newBrowser starts a headless browser for the test; its tab's context is
// returned, closed (and the browser stopped) at the test's end.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	tab, stop, err := uitest.NewBrowser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return tab
}

// run runs browser steps within timeout, failing the test with what was
// being done and the page's text.
func run(t *testing.T, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		pageFailure(t, ctx, what, err)
	}
}

// value runs one browser action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		pageFailure(t, ctx, what, err)
	}
	return v
}

func pageFailure(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(tctx, chromedp.Location())
	body, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	t.Fatalf("%s: %v\npage %s:\n%s", what, err, loc, body)
}

// screenshotDir is where each step's screenshot goes: $FERRY_UI_SCREENSHOTS
// (`make ui-screenshots` sets docs/ui), else a directory the test logs.
func screenshotDir(t *testing.T) string {
	d := os.Getenv("FERRY_UI_SCREENSHOTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "ferry-ui-screenshots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	jpeg := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(85)) // JPEG below quality 100
	path := filepath.Join(screenshotDir(t), name+".jpg")
	if err := os.WriteFile(path, jpeg, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// waitText waits until the first element matching the CSS selector has
// text containing want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null })()`, sel)
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		var got *string
		for {
			v, err := chromedp.Evaluate[*string](js)(ctx, tgt)
			if err == nil {
				got = v
				if v != nil && strings.Contains(*v, want) {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				if got == nil {
					return fmt.Errorf("no element %s showing %q", sel, want)
				}
				return fmt.Errorf("%s never showed %q (last: %q)", sel, want, *got)
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

// httpSession is a person signed in to the UI with a plain HTTP client,
// for what a browser would not send (forged requests) and for crawling.
type httpSession struct {
	t    *testing.T
	base string
	c    *http.Client
}

var (
	nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

func httpLogin(t *testing.T, base, token string) *httpSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &httpSession{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	_, page := s.get("/login")
	m := nonceRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the login page has no nonce:\n%s", page)
	}
	code, body := s.post("/login", url.Values{"nonce": {m[1]}, "token": {token}, "next": {"/applications"}})
	if code != http.StatusOK || !strings.Contains(body, "Applications") {
		t.Fatalf("login: %d\n%s", code, body)
	}
	return s
}

func (s *httpSession) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (s *httpSession) post(path string, form url.Values) (int, string) {
	s.t.Helper()
	resp, err := s.c.PostForm(s.base+path, form)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// csrf reads the session's CSRF token from a page.
func (s *httpSession) csrf() string {
	_, page := s.get("/applications")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		s.t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}
