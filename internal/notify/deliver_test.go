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
	if len(out) != 3 {
		t.Fatalf("outcomes %+v, want 3 (one for rocketchat, two templates for hook)", out)
	}
	if out[0].Destination.Service != "rocketchat" || out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "not supported") {
		t.Errorf("rocketchat: %+v", out[0])
	}
	for i, tmpl := range []string{"app-sync-failed", "app-deployed"} {
		if o := out[1+i]; o.Destination.Service != "hook" || o.Template != tmpl || o.Err != nil {
			t.Errorf("hook %d: %+v", i, o)
		}
	}
	if n := len(r.requests()); n != 2 {
		t.Errorf("hook got %d requests, want 2", n)
	}
}
