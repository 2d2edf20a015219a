package project

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// FuzzNormalizeRepoURL checks that normalizing is idempotent, so a URL and
// a pattern spelled alike compare alike however often they pass through,
// except that, as in Argo CD, only one ".git" is removed. URLs with white
// space inside are not URLs and are left out.
func FuzzNormalizeRepoURL(f *testing.F) {
	for _, s := range []string{"https://GitHub.com/org/repo.git/", "git@github.com:org/repo", "ssh://git@h:22/x", "*", "a@b:c@d", "x.git.git", "/.git/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if strings.ContainsFunc(strings.TrimSpace(u), unicode.IsSpace) {
			return
		}
		once := normalizeRepoURL(u)
		if strings.HasSuffix(once, ".git") {
			return
		}
		if twice := normalizeRepoURL(once); twice != once {
			t.Errorf("normalizeRepoURL(%q) = %q, again %q", u, once, twice)
		}
	})
}

// FuzzWindowActive checks that a valid window's reported opening contains
// now and is the latest one: start <= now < start+duration, and the next
// firing after start is after now.
func FuzzWindowActive(f *testing.F) {
	f.Add("0 9 * * *", "1h", "Europe/Berlin", int64(1768465800))
	f.Add("*/7 * * * *", "20m", "", int64(1780000000))
	f.Add("0 1 * * *", "3h", "Europe/Berlin", int64(1774751400))
	f.Fuzz(func(t *testing.T, schedule, duration, zone string, unix int64) {
		w := &v1alpha1.SyncWindow{Kind: "allow", Schedule: schedule, Duration: duration, TimeZone: zone}
		s, err := parseWindow(w)
		if err != nil || s.duration > 24*366*time.Hour {
			return
		}
		now := time.Unix(unix%(1<<33), 0).UTC()
		active, start, err := WindowActive(w, now)
		if err != nil {
			t.Fatalf("WindowActive: %v after parseWindow accepted it", err)
		}
		if !active {
			if !start.IsZero() {
				t.Errorf("inactive with start %s", start)
			}
			return
		}
		if start.After(now) || !now.Before(start.Add(s.duration)) {
			t.Errorf("active at %s with start %s, duration %s", now, start, s.duration)
		}
		if next := s.next(start); !next.IsZero() && !next.After(now) {
			t.Errorf("start %s is not the latest: %s also fired by %s", start, next, now)
		}
	})
}
