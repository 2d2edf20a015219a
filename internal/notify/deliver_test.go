package notify

import (
	"strings"
	"testing"
)

func TestDeliver(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.hook":     "url: " + base,
		"service.rocketchat":       "email: x",
		"trigger.on-sync-failed":   "- when: 'true'\n  send: [app-sync-failed, app-deployed]",
		"template.app-sync-failed": "message: failed",
	}, nil)
	out := fast.Deliver(t.Context(), c, testEvent(TriggerSyncFailed), c.TemplatesOf(TriggerSyncFailed), []Destination{{Service: "rocketchat"}, {Service: "hook"}})
	if len(out) != 2 {
		t.Fatalf("outcomes %+v, want 2 (rocketchat's failure, hook's one merged notification)", out)
	}
	if out[0].Destination.Service != "rocketchat" || out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "not supported") {
		t.Errorf("rocketchat: %+v", out[0])
	}
	if o := out[1]; o.Destination.Service != "hook" || o.Template != "app-sync-failed,app-deployed" || o.Err != nil {
		t.Errorf("hook: %+v", o)
	}
	// As in Argo CD, one notification: the later template's message over
	// the earlier's.
	reqs := r.requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].body, "is deployed") {
		t.Errorf("hook got %+v, want one request with app-deployed's message", reqs)
	}
}
