// Package uitest drives Ferry's web UI in a real headless Chromium through
// the DevTools protocol (chromedp): the browser tests here and the UI
// benchmark (bench -ui) start it the same way.
package uitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Chromium finds a headless Chromium: $FERRY_CHROMIUM, else Debian's
// chromium-headless-shell or chromium on PATH or where Debian puts them.
func Chromium() (string, error) {
	if p := os.Getenv("FERRY_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	for _, p := range []string{"/usr/lib/chromium-headless-shell/chromium-headless-shell", "/usr/lib/chromium/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no headless Chromium: install Debian's chromium-headless-shell " +
		"(apt-get install chromium-headless-shell; .ci/run does) or set FERRY_CHROMIUM")
}

// NewBrowser starts a headless Chromium with a 1280×900 window and returns
// its first tab's context; stop ends the browser.
func NewBrowser(ctx context.Context) (tab context.Context, stop func(), err error) {
	path, err := Chromium()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancel := chromedp.NewContext(alloc)
	stop = func() {
		cancel()
		cancelAlloc()
	}
	// The first action starts the browser; it lives as long as tab.
	if err := chromedp.Do(tab); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return tab, stop, nil
}
