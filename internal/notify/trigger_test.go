package notify

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/notifications-engine/pkg/triggers"
)

// appEvent is an Event over an Application given as JSON-decoded map.
func appEvent(app map[string]any) Event {
	meta, _ := app["metadata"].(map[string]any)
	ev := Event{App: app}
	if a, ok := meta["annotations"].(map[string]string); ok {
		ev.annotations = a
	}
	return ev
}

func subscribedApp(status map[string]any, triggers ...string) map[string]any {
	ann := map[string]string{}
	for _, t := range triggers {
		ann["notifications.argoproj.io/subscribe."+t+".hook"] = "r"
	}
	return map[string]any{"metadata": map[string]any{"name": "guestbook", "annotations": ann}, "status": status}
}

// TestStateKeysAreArgoCDs: what Ferry records is what Argo CD's
// notifications engine records (its controller.StateItemKey, for a
// configuration in the controller's namespace), so an Application moved
// between the two is told nothing twice.
func TestStateKeysAreArgoCDs(t *testing.T) {
	d := Destination{Service: "hook", Recipient: "r"}
	for _, tt := range []struct {
		r    triggers.ConditionResult
		want string
	}{
		{triggers.ConditionResult{Key: "[0].abc", OncePer: "r1", Triggered: true}, "r1:on-x:[0].abc:hook:r"},
		{triggers.ConditionResult{Key: "[1].xyz", Triggered: true}, "on-x:[1].xyz:hook:r"},
	} {
		if got, want := stateKey("on-x", tt.r, d), tt.want; got != want {
			t.Errorf("stateKey = %q, want %q", got, want)
		}
	}
	// The condition key is the engine's: index and a hash of the condition.
	c := mustParse(t, map[string]string{"service.webhook.hook": "url: https://h"}, nil)
	res, err := c.Check(TriggerCreated, Event{App: map[string]any{"metadata": map[string]any{"name": "a"}}})
	if err != nil || len(res) != 1 || !strings.HasPrefix(res[0].Key, "[0].") || res[0].OncePer != "a" || !res[0].Triggered {
		t.Errorf("Check = %+v, %v", res, err)
	}
}

// TestEvaluateCatalogSemantics: a condition fires when it starts to hold;
// without oncePer it fires again after it stopped holding, with oncePer once
// per value, ever.
func TestEvaluateCatalogSemantics(t *testing.T) {
	c := mustParse(t, map[string]string{"service.webhook.hook": "url: https://h"}, nil)
	st := StateOf(nil)
	degraded := func(health, rev string) []string {
		ev := appEvent(subscribedApp(map[string]any{
			"health":         map[string]any{"status": health},
			"sync":           map[string]any{"status": "OutOfSync"},
			"operationState": map[string]any{"phase": "Running", "syncResult": map[string]any{"revision": rev}},
		}, TriggerHealthDegraded, TriggerOutOfSync))
		sends, _, errs := c.Evaluate(ev, c.Subscriptions(ev.Labels(), ev.Annotations()), st)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var out []string
		for _, s := range sends {
			out = append(out, s.Trigger)
		}
		return out
	}
	steps := []struct {
		health, rev string
		want        string
	}{
		{"Healthy", "r1", "on-out-of-sync"},
		{"Degraded", "r1", "on-health-degraded"},
		{"Healthy", "r1", ""},
		{"Degraded", "r1", ""}, // oncePer r1
		{"Degraded", "r2", "on-health-degraded"},
	}
	for i, s := range steps {
		if got := strings.Join(degraded(s.health, s.rev), ","); got != s.want {
			t.Errorf("step %d (%s at %s): sent %q, want %q", i, s.health, s.rev, got, s.want)
		}
	}
}

// TestWhenFunctions: the functions Argo CD's docs use in `when:`.
func TestWhenFunctions(t *testing.T) {
	started := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
	c := mustParse(t, map[string]string{
		"service.webhook.hook": "url: https://h",
		// From Argo CD's documentation: a sync running for more than 5 minutes.
		"trigger.on-sync-long": `- when: app.status.operationState.phase in ['Running'] and time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5
  send: [app-sync-running]`,
		"trigger.on-repo": `- when: repo.FullNameByRepoURL(app.spec.source.repoURL) == 'acme/guestbook' and strings.ToUpper(repo.RepoURLToHTTPS('git@github.com:acme/guestbook.git')) == 'HTTPS://GITHUB.COM/ACME/GUESTBOOK.GIT'
  send: [app-deployed]`,
		"trigger.on-commit": `- when: repo.GetCommitMetadata(app.status.sync.revision).Author == 'Ada <ada@example.com>'
  send: [app-deployed]`,
		"trigger.on-broken": `- when: time.Parse(app.status.nothing) != nil
  send: [app-deployed]`,
	}, nil)
	app := map[string]any{
		"metadata": map[string]any{"name": "guestbook"},
		"spec":     map[string]any{"source": map[string]any{"repoURL": "https://github.com/acme/guestbook.git"}},
		"status": map[string]any{"operationState": map[string]any{"phase": "Running", "startedAt": started},
			"sync": map[string]any{"revision": sha}},
	}
	ev := Event{App: app, RepoURL: "https://github.com/acme/guestbook.git", Commits: func(repo, s string) (CommitMetadata, error) {
		if s != sha || repo != "https://github.com/acme/guestbook.git" {
			return CommitMetadata{}, errors.New("no such commit")
		}
		return CommitMetadata{Author: "Ada <ada@example.com>"}, nil
	}}
	for trigger, want := range map[string]bool{"on-sync-long": true, "on-repo": true, "on-commit": true, "on-broken": false} {
		res, err := c.Check(trigger, ev)
		if err != nil || len(res) != 1 || res[0].Triggered != want {
			t.Errorf("%s: %+v, %v; want triggered %t", trigger, res, err, want)
		}
	}
	ev.Commits = nil
	if res, _ := c.Check("on-commit", ev); res[0].Triggered {
		t.Error("on-commit without repository access: want false")
	}
}

// TestCatalogOnDeployedReadsHealthTransition: the catalog's on-deployed
// fires when health became Healthy after the sync started, or within a
// minute before it finished; not when it has been Healthy for long and
// the operation finished long after (a sync that changed nothing the
// health depends on is told by on-sync-succeeded).
func TestCatalogOnDeployedReadsHealthTransition(t *testing.T) {
	c := mustParse(t, map[string]string{"service.webhook.hook": "url: https://h"}, nil)
	at := func(d time.Duration) string { return time.Unix(1_700_000_000, 0).Add(d).UTC().Format(time.RFC3339) }
	for _, tt := range []struct {
		healthy, started, finished time.Duration
		want                       bool
	}{
		{healthy: 30 * time.Second, started: 0, finished: 20 * time.Second, want: true},
		{healthy: -time.Hour, started: 0, finished: 20 * time.Second, want: true},
		{healthy: 10 * time.Second, started: 0, finished: 5 * time.Minute, want: false},
	} {
		app := map[string]any{"status": map[string]any{
			"health":         map[string]any{"status": "Healthy", "lastTransitionTime": at(tt.healthy)},
			"operationState": map[string]any{"phase": "Succeeded", "startedAt": at(tt.started), "finishedAt": at(tt.finished)},
		}}
		res, err := c.Check(TriggerDeployed, Event{App: app})
		if err != nil || res[0].Triggered != tt.want {
			t.Errorf("healthy at %v, sync %v..%v: %+v %v, want %t", tt.healthy, tt.started, tt.finished, res, err, tt.want)
		}
	}
}

func TestStateKeepsTheNewest100(t *testing.T) {
	st := StateOf(nil)
	now := time.Unix(1000, 0)
	st.now = func() time.Time { return now }
	for i := range 105 {
		now = now.Add(time.Second)
		st.set("on-x", triggers.ConditionResult{Key: "[0].k", OncePer: fmt.Sprint(i)}, Destination{Service: "s"}, true)
		st = StateOf(map[string]string{NotifiedAnnotation: st.Annotation()}) // the next reconcile
		st.now = func() time.Time { return now }
	}
	// What holds in this evaluation is kept even when oldest: dropping it
	// would tell it again.
	st.set("on-created", triggers.ConditionResult{Key: "[0].c", OncePer: "app"}, Destination{Service: "s"}, true)
	delete(st.sent, "on-created")
	st.sent["app:on-created:[0].c:s:"] = 1
	back := StateOf(map[string]string{NotifiedAnnotation: st.Annotation()})
	if _, ok := back.sent["app:on-created:[0].c:s:"]; !ok {
		t.Error("an entry whose condition holds was dropped")
	}
	if len(back.sent) != 100 {
		t.Fatalf("%d entries, want 100", len(back.sent))
	}
	if _, ok := back.sent["5:on-x:[0].k:s:"]; ok {
		t.Error("the oldest entries are kept")
	}
	if _, ok := back.sent["104:on-x:[0].k:s:"]; !ok {
		t.Error("the newest entry is lost")
	}
}

func TestEvaluateReportsUndefinedTriggers(t *testing.T) {
	c := mustParse(t, map[string]string{"service.webhook.hook": "url: https://h"}, nil)
	ev := appEvent(subscribedApp(nil, "on-nothing"))
	_, _, errs := c.Evaluate(ev, c.Subscriptions(ev.Labels(), ev.Annotations()), StateOf(nil))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `trigger "on-nothing" is subscribed but not defined`) {
		t.Errorf("errs = %v", errs)
	}
}
