package notify

import (
	"strings"
	"testing"
)

func TestDeliver(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.hook":     "url: " + base,
		"service.email":            "host: smtp",
		"trigger.on-sync-failed":   "- send: [app-sync-failed, app-deployed]",
		"template.app-sync-failed": "message: failed",
	}, nil)
	out := fast.Deliver(t.Context(), c, testEvent(TriggerSyncFailed), []Destination{{Service: "email"}, {Service: "hook"}})
	if len(out) != 3 {
		t.Fatalf("outcomes %+v, want 3 (one for email, two templates for hook)", out)
	}
	if out[0].Destination.Service != "email" || out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "not supported") {
		t.Errorf("email: %+v", out[0])
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
