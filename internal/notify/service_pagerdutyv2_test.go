package notify

import (
	"strings"
	"testing"
)

const pagerdutyKey = "R0UT1NGKEY0123456789abcdefabcdef"

// pagerdutyTemplate is Argo CD's docs/services/pagerduty_v2.md template,
// for an Application instead of a Rollout, with the optional fields.
const pagerdutyTemplate = `
message: Application {{.app.metadata.name}} sync failed.
pagerdutyv2:
  summary: "Application {{.app.metadata.name}} sync failed."
  severity: "critical"
  source: "{{.app.metadata.name}}"
  component: "{{.app.spec.destination.namespace}}"
  group: "{{.app.metadata.namespace}}"
  class: "sync"
  url: "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"
`

func pagerdutyConfig(t *testing.T, base, template string) *Config {
	t.Helper()
	return mustParse(t, map[string]string{
		"service.pagerdutyv2":      "serviceKeys:\n  my-service: $pagerduty-key-my-service\nurl: " + base + "/v2/enqueue\n",
		"context":                  "argocdUrl: https://argocd.example.com\n",
		"template.app-sync-failed": template,
	}, map[string][]byte{"pagerduty-key-my-service": []byte(pagerdutyKey)})
}

func TestSendPagerDutyV2(t *testing.T) {
	r, base := serve(t, 202)
	r.reply = `{"status":"success","message":"Event processed","dedup_key":"k"}`
	c := pagerdutyConfig(t, base, pagerdutyTemplate)
	if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "pagerdutyv2", Recipient: "my-service"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	if got.method != "POST" || got.uri != "/v2/enqueue" {
		t.Errorf("request %s %s, want POST /v2/enqueue", got.method, got.uri)
	}
	if a := got.header.Get("Authorization"); a != "" {
		t.Errorf("Authorization = %q: the routing key goes in the body", a)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"routing_key":  pagerdutyKey,
		"event_action": "trigger",
		"client":       "Ferry",
		"client_url":   "https://argocd.example.com/applications/guestbook",
		"payload": map[string]any{
			"summary":   "Application guestbook sync failed.",
			"severity":  "critical",
			"source":    "guestbook",
			"component": "web",
			"group":     "ferry",
			"class":     "sync",
		},
	})
}

func TestSendPagerDutyV2Minimal(t *testing.T) {
	r, base := serve(t)
	// The docs' template as written (summary, severity, source).
	c := pagerdutyConfig(t, base, `
message: Application {{.app.metadata.name}} is aborted.
pagerdutyv2:
  summary: "Application {{.app.metadata.name}} is aborted."
  severity: "critical"
  source: "{{.app.metadata.name}}"
`)
	if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "pagerdutyv2", Recipient: "my-service"}); err != nil {
		t.Fatal(err)
	}
	body := decodeJSONBody(t, only(t, r))
	checkFields(t, body, map[string]any{
		"routing_key": pagerdutyKey,
		"payload":     map[string]any{"summary": "Application guestbook is aborted.", "severity": "critical", "source": "guestbook"},
	})
	if _, ok := body["client_url"]; ok {
		t.Errorf("client_url without a template url: %v", body)
	}
}

func TestParsePagerDutyV2DefaultURL(t *testing.T) {
	// A key written in the ConfigMap is a secret too.
	c := mustParse(t, map[string]string{"service.pagerdutyv2": "serviceKeys: {a: key-a}"}, nil)
	s := c.services["pagerdutyv2"].(*pagerdutyV2Service)
	if s.url != "https://events.pagerduty.com/v2/enqueue" || s.keys["a"] != "key-a" {
		t.Errorf("service = %+v", s)
	}
	if got := c.redact("key-a"); got != "***" {
		t.Errorf("the routing key is not redacted: %q", got)
	}
	if _, err := Parse(map[string]string{"service.pagerdutyv2": "url: https://x"}, nil); err == nil ||
		!strings.Contains(err.Error(), "service.pagerdutyv2: serviceKeys is required") {
		t.Errorf("no serviceKeys: %v", err)
	}
}

func TestSendPagerDutyV2Failures(t *testing.T) {
	tests := []struct {
		name      string
		template  string
		recipient string
		status    int
		want      []string
	}{
		{"rejected", pagerdutyTemplate, "my-service", 400,
			[]string{"notify pagerdutyv2 (template app-sync-failed)", "400", "invalid event"}},
		{"unknown recipient", pagerdutyTemplate, "other", 202,
			[]string{"notify pagerdutyv2", `recipient "other"`, "serviceKeys", "my-service"}},
		{"no recipient", pagerdutyTemplate, "", 202, []string{"no recipient", "serviceKeys"}},
		{"no source", "pagerdutyv2: {summary: s, severity: info}\n", "my-service", 202,
			[]string{"template app-sync-failed: pagerdutyv2.source is required"}},
		{"severity", "pagerdutyv2: {summary: s, severity: high, source: x}\n", "my-service", 202,
			[]string{"pagerdutyv2.severity \"high\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, base := serve(t, tt.status)
			r.reply = `{"status":"invalid event","message":"Event object is invalid","errors":["routing_key ` + pagerdutyKey + ` unknown"]}`
			c := pagerdutyConfig(t, base, tt.template)
			err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "pagerdutyv2", Recipient: tt.recipient})
			failsSafely(t, err, tt.want, pagerdutyKey)
		})
	}
}
