package notify

import (
	"strings"
	"testing"
)

const opsgenieKey = "0a1b2c3d-gen1e-key-5e6f7a8b9c0d"

// opsgenieDocTemplate is Argo CD's docs/services/opsgenie.md template, with
// alias quoted: the docs' `alias: {{.app.metadata.name}}` is not valid
// YAML (a flow mapping as a key), in Argo CD too.
const opsgenieDocTemplate = `
message: |
  [Argo CD] Application {{.app.metadata.name}} has a problem.
opsgenie:
  description: |
    Application: {{.app.metadata.name}}
    Health Status: {{.app.status.health.status}}
    Operation State Phase: {{.app.status.operationState.phase}}
    Sync Status: {{.app.status.sync.status}}
  priority: P1
  alias: "{{.app.metadata.name}}"
  note: Error from Argo CD!
  actions:
    - Restart
    - AnExampleAction
  tags:
    - OverwriteQuietHours
    - Critical
  visibleTo:
    - Id: "{{.app.metadata.responderId}}"
      Type: "team"
    - Name: "rocket_team"
      Type: "team"
    - Id: "{{.app.metadata.responderUserId}}"
      Type: "user"
    - Username: "trinity@opsgenie.com"
      Type: "user"
  details:
    environment: production
    service: web
  entity: Argo CD Application
  user: John Doe
`

func opsgenieConfig(t *testing.T, apiURL, template string) *Config {
	t.Helper()
	cm := map[string]string{
		"service.opsgenie":      "apiUrl: " + apiURL + "\napiKeys:\n  my-team: $opsgenie-key\n",
		"trigger.on-a-problem":  "- description: Application has a problem.\n  send:\n  - opsgenie\n  when: app.status.health.status == 'Degraded'\n",
		"template.opsgenie":     template,
		"template.app-deployed": "message: deployed\n",
	}
	return mustParse(t, cm, map[string][]byte{"opsgenie-key": []byte(opsgenieKey)})
}

func opsgenieEvent() Event {
	ev := testEvent("on-a-problem")
	meta := ev.App["metadata"].(map[string]any)
	meta["responderId"] = "4513b7ea-3b91-438f-b7e4-e3e54af9147c"
	meta["responderUserId"] = "bb4d9938-c3c2-455d-aaab-727aa701c0d8"
	ev.App["status"] = map[string]any{
		"health":         map[string]any{"status": "Degraded"},
		"operationState": map[string]any{"phase": "Failed"},
		"sync":           map[string]any{"status": "OutOfSync"},
	}
	return ev
}

func TestSendOpsgenie(t *testing.T) {
	r, base := serve(t, 202)
	r.reply = `{"result":"Request will be processed","took":0.1,"requestId":"x"}`
	c := opsgenieConfig(t, base, opsgenieDocTemplate)
	if err := deliver(t, c, opsgenieEvent(), Destination{Service: "opsgenie", Recipient: "my-team"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	if got.method != "POST" || got.uri != "/v2/alerts" {
		t.Errorf("request %s %s, want POST /v2/alerts", got.method, got.uri)
	}
	if a := got.header.Get("Authorization"); a != "GenieKey "+opsgenieKey {
		t.Errorf("Authorization = %q", a)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"message":     "[Argo CD] Application guestbook has a problem.\n",
		"description": "Application: guestbook\nHealth Status: Degraded\nOperation State Phase: Failed\nSync Status: OutOfSync\n",
		"priority":    "P1",
		"alias":       "guestbook",
		"note":        "Error from Argo CD!",
		"actions":     []string{"Restart", "AnExampleAction"},
		"tags":        []string{"OverwriteQuietHours", "Critical"},
		"visibleTo": []any{
			map[string]any{"type": "team", "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
			map[string]any{"type": "team", "name": "rocket_team"},
			map[string]any{"type": "user", "id": "bb4d9938-c3c2-455d-aaab-727aa701c0d8"},
			map[string]any{"type": "user", "username": "trinity@opsgenie.com"},
		},
		"details":    map[string]any{"environment": "production", "service": "web"},
		"entity":     "Argo CD Application",
		"user":       "John Doe",
		"responders": []any{map[string]any{"type": "team", "name": "my-team"}},
		"source":     "Ferry",
	})
}

func TestSendOpsgenieMessageOnly(t *testing.T) {
	r, base := serve(t)
	c := opsgenieConfig(t, base+"/", opsgenieDocTemplate)
	ev := testEvent(TriggerDeployed)
	if err := deliver(t, c, ev, Destination{Service: "opsgenie", Recipient: "my-team"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	if got.uri != "/v2/alerts" {
		t.Errorf("uri = %s", got.uri)
	}
	body := decodeJSONBody(t, got)
	want := map[string]any{"message": "deployed", "source": "Ferry",
		"responders": []any{map[string]any{"type": "team", "name": "my-team"}}}
	checkFields(t, body, want)
	if len(body) != len(want) {
		t.Errorf("body has more than %v: %s", want, got.body)
	}
}

func TestParseOpsgenieAPIURL(t *testing.T) {
	ns := func(c *Config) []Notification {
		t.Helper()
		ns, err := c.Render(testEvent(TriggerDeployed), []string{"app-deployed"}, Destination{Service: "opsgenie", Recipient: "4513b7ea-3b91-438f-b7e4-e3e54af9147c"})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	for _, tt := range []struct{ apiURL, want string }{
		{"", "https://api.opsgenie.com/v2/alerts"},
		{"api.eu.opsgenie.com", "https://api.eu.opsgenie.com/v2/alerts"}, // Argo CD's docs: a host
		{"https://proxy.example.com/opsgenie/", "https://proxy.example.com/opsgenie/v2/alerts"},
	} {
		c := mustParse(t, map[string]string{
			"service.opsgenie": "apiUrl: " + tt.apiURL + "\napiKeys:\n  4513b7ea-3b91-438f-b7e4-e3e54af9147c: literal-genie-key\n",
		}, nil)
		if got := c.redact("literal-genie-key"); got != "***" {
			t.Errorf("a key written in the ConfigMap is not redacted: %q", got)
		}
		outs, err := c.services["opsgenie"].requests(ns(c)[0])
		if err != nil || len(outs) != 1 {
			t.Fatalf("%q: %v, %d requests", tt.apiURL, err, len(outs))
		}
		if outs[0].url != tt.want {
			t.Errorf("apiUrl %q: url %s, want %s", tt.apiURL, outs[0].url, tt.want)
		}
		// A team's id is sent as an id.
		if !strings.Contains(string(outs[0].body), `"responders":[{"type":"team","id":"4513b7ea-3b91-438f-b7e4-e3e54af9147c"}]`) {
			t.Errorf("body %s", outs[0].body)
		}
	}
}

func TestSendOpsgenieFailures(t *testing.T) {
	tests := []struct {
		name      string
		template  string
		recipient string
		status    int
		want      []string
	}{
		{"unauthorized", opsgenieDocTemplate, "my-team", 401,
			[]string{"notify opsgenie (template opsgenie)", "401", "Key format is not valid"}},
		{"unknown team", opsgenieDocTemplate, "other-team", 202,
			[]string{"notify opsgenie", `recipient "other-team"`, "apiKeys", "my-team"}},
		{"no description", "message: m\nopsgenie:\n  priority: P1\n", "my-team", 202,
			[]string{"template opsgenie: opsgenie.description is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, base := serve(t, tt.status)
			r.reply = `{"message":"Key format is not valid! GenieKey ` + opsgenieKey + `","took":0.001,"requestId":"x"}`
			c := opsgenieConfig(t, base, tt.template)
			err := deliver(t, c, opsgenieEvent(), Destination{Service: "opsgenie", Recipient: tt.recipient})
			failsSafely(t, err, tt.want, opsgenieKey)
		})
	}
}
