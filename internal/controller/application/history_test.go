package application

import (
	"testing"
	"time"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

func TestAppendHistoryTrimsToTheLimit(t *testing.T) {
	limit := int64(3)
	app := &v1alpha1.Application{Spec: v1alpha1.ApplicationSpec{RevisionHistoryLimit: &limit}}
	for i := range 5 {
		appendHistory(app, v1alpha1.RevisionHistory{Revision: string(rune('a' + i))})
	}
	if len(app.Status.History) != 3 {
		t.Fatalf("history has %d entries, want 3", len(app.Status.History))
	}
	for i, h := range app.Status.History {
		if want := int64(i + 3); h.ID != want || h.Revision != string(rune('a'+i+2)) {
			t.Errorf("entry %d = id %d revision %s, want id %d", i, h.ID, h.Revision, want)
		}
	}
	defaults := &v1alpha1.Application{}
	for range 12 {
		appendHistory(defaults, v1alpha1.RevisionHistory{})
	}
	if n := len(defaults.Status.History); n != 10 || defaults.Status.History[9].ID != 12 {
		t.Errorf("default limit: %d entries, last id %d; want 10 entries, last id 12", n, defaults.Status.History[n-1].ID)
	}
}

func TestRetryPolicy(t *testing.T) {
	factor := int64(3)
	tests := []struct {
		name      string
		rs        *v1alpha1.RetryStrategy
		automated bool
		limit     int64
		waits     []time.Duration
	}{
		{"automated default", nil, true, 5, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second}},
		{"manual default: no retry", nil, false, 0, nil},
		{"explicit", &v1alpha1.RetryStrategy{Limit: 2, Backoff: &v1alpha1.Backoff{Duration: "1s", Factor: &factor, MaxDuration: "5s"}}, false, 2,
			[]time.Duration{time.Second, 3 * time.Second, 5 * time.Second}},
		{"negative is forever", &v1alpha1.RetryStrategy{Limit: -1}, true, 1 << 62, nil},
	}
	for _, tt := range tests {
		p := appstate.RetryPolicyOf(tt.rs, tt.automated)
		if p.Limit != tt.limit {
			t.Errorf("%s: limit %d, want %d", tt.name, p.Limit, tt.limit)
		}
		for i, want := range tt.waits {
			if got := p.Backoff(int64(i)); got != want {
				t.Errorf("%s: backoff(%d) = %s, want %s", tt.name, i, got, want)
			}
		}
	}
}
