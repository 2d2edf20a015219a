package notify

import (
	"reflect"
	"strings"
	"testing"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func testEvent(trigger string) Event {
	return Event{
		Trigger: trigger,
		App: map[string]any{
			"metadata": map[string]any{"name": "guestbook", "namespace": "ferry"},
			"spec":     map[string]any{"destination": map[string]any{"namespace": "web"}},
		},
		Revision: sha,
		RepoURL:  "https://github.com/acme/guestbook.git",
		Message:  "apply failed",
	}
}

func renderOne(t *testing.T, c *Config, ev Event, d Destination) Notification {
	t.Helper()
	ns, err := c.Render(ev, d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(ns) != 1 {
		t.Fatalf("Render gave %d notifications, want 1", len(ns))
	}
	return ns[0]
}

func TestRenderDefaultTemplates(t *testing.T) {
	c := mustParse(t, map[string]string{"service.slack": "url: https://slack"}, nil)
	tests := map[string]string{
		TriggerSyncFailed:     "Application guestbook sync failed at 0123456: apply failed",
		TriggerSyncSucceeded:  "Application guestbook synced to 0123456: apply failed",
		TriggerDeployed:       "Application guestbook is deployed at 0123456 and healthy: apply failed",
		TriggerHealthDegraded: "Application guestbook is degraded at 0123456: apply failed",
		TriggerDriftDetected:  "Application guestbook drifted from Git (changed by kubectl-edit): apply failed",
		TriggerOutOfSync:      "Application guestbook is out of sync with 0123456: apply failed",
	}
	for trigger, want := range tests {
		ev := testEvent(trigger)
		ev.Context = map[string]string{"manager": "kubectl-edit"}
		n := renderOne(t, c, ev, Destination{Service: "slack", Recipient: "#ops"})
		if n.Message != want || n.Slack == nil || n.Slack.Text != want || n.Slack.Channel != "#ops" {
			t.Errorf("%s: got %+v %+v, want %q", trigger, n, n.Slack, want)
		}
		if n.Template != builtinTriggers[trigger] || n.Trigger != trigger {
			t.Errorf("%s: template %q trigger %q", trigger, n.Template, n.Trigger)
		}
	}
	ev := testEvent(TriggerSyncFailed)
	ev.Revision, ev.Message = "", ""
	if n := renderOne(t, c, ev, Destination{Service: "slack"}); n.Message != "Application guestbook sync failed" {
		t.Errorf("without revision and message: %q", n.Message)
	}
}

func TestRenderOverridesBuiltinTemplate(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":            "url: https://slack",
		"template.app-sync-failed": "message: 'boom {{.app.metadata.name}}'",
	}, nil)
	if n := renderOne(t, c, testEvent(TriggerSyncFailed), Destination{Service: "slack"}); n.Message != "boom guestbook" {
		t.Errorf("Message = %q", n.Message)
	}
}

func TestRenderConfiguredTrigger(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":        "url: https://slack",
		"service.webhook.hook": "url: https://hook/base",
		"context":              "argocdUrl: https://ferry.example.com\nenv: prod",
		"trigger.on-sync-failed": `
- send: [first, second]
- send: [first, app-deployed]
  when: ignored`,
		"template.first": `
message: "{{.trigger}} {{.app.metadata.name}} {{short .revision}} {{.repoURL}} {{.context.env}}/{{.context.argocdUrl}} [{{.context.missing}}] {{.Revision}}"
slack:
  text: "slack: {{.message}}"
webhook:
  hook:
    method: PATCH
    path: "/apps/{{.app.metadata.name}}"
    body: |
      {"app": {{toJson .app.metadata.name}}, "msg": {{toJson .message}}, "env": "{{.context.env}}"}
`,
		"template.second": "message: ''",
	}, nil)
	ev := testEvent(TriggerSyncFailed)
	ev.Message = `say "<hi>"`
	ev.Context = map[string]string{"env": "staging"}

	ns, err := c.Render(ev, Destination{Service: "slack", Recipient: "#a"})
	if err != nil {
		t.Fatal(err)
	}
	// second renders an empty message and no slack text: nothing to send.
	if len(ns) != 2 || ns[0].Template != "first" || ns[1].Template != "app-deployed" {
		t.Fatalf("Render = %+v", ns)
	}
	wantMsg := "on-sync-failed guestbook 0123456 https://github.com/acme/guestbook.git staging/https://ferry.example.com [] " + sha
	if ns[0].Message != wantMsg || ns[0].Slack.Text != `slack: say "<hi>"` {
		t.Errorf("first = %q / %q", ns[0].Message, ns[0].Slack.Text)
	}

	ns, err = c.Render(ev, Destination{Service: "hook"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 3 {
		t.Fatalf("Render to hook = %+v", ns)
	}
	want := &WebhookRequest{Method: "PATCH", Path: "/apps/guestbook",
		Body: []byte(`{"app": "guestbook", "msg": "say \"<hi>\"", "env": "staging"}` + "\n")}
	if !reflect.DeepEqual(ns[0].Webhook, want) {
		t.Errorf("Webhook = %+v (%s), want %+v", ns[0].Webhook, ns[0].Webhook.Body, want)
	}
	// A template without a webhook part sends the default JSON body.
	want = &WebhookRequest{Method: "POST", Body: []byte(`{"trigger":"on-sync-failed","application":"guestbook",` +
		`"namespace":"ferry","revision":"` + sha + `","message":""}`)}
	if !reflect.DeepEqual(ns[1].Webhook, want) {
		t.Errorf("default Webhook = %+v (%s), want %+v", ns[1].Webhook, ns[1].Webhook.Body, want)
	}
}

func TestRenderErrors(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":          "url: https://slack",
		"service.github":         "token: t",
		"trigger.on-out-of-sync": "- send: [bad]",
		"template.bad":           "message: '{{.app.metadata.name.first}}'",
	}, nil)
	tests := []struct {
		ev   Event
		d    Destination
		want string
	}{
		{testEvent(TriggerSyncFailed), Destination{Service: "teams"}, `service "teams" is not configured`},
		{testEvent("on-created"), Destination{Service: "slack"}, `trigger "on-created"`},
		{testEvent(TriggerOutOfSync), Destination{Service: "slack"}, "template.bad"},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: sha, RepoURL: "not a url"},
			Destination{Service: "github"}, `repoURL "not a url"`},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: "v1.2.3", RepoURL: "https://github.com/a/b"},
			Destination{Service: "github"}, `revision "v1.2.3"`},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: sha, RepoURL: "https://github.com/a/b/c"},
			Destination{Service: "github"}, "owner/repo"},
	}
	for _, tt := range tests {
		_, err := c.Render(tt.ev, tt.d)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%s, %v) error = %v, want %q", tt.ev.Trigger, tt.d, err, tt.want)
		}
	}
}

func TestTemplateFuncs(t *testing.T) {
	tmpl, err := newTemplate("t").Parse(`{{short .a}}|{{short .b}}|{{short .none}}|{{toJson .m}}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := execute(tmpl, map[string]any{"a": sha, "b": "v1", "m": map[string]any{"k": "<&>"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `0123456|v1||{"k":"<&>"}`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderSyncStatusUnknown(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":        "url: https://slack",
		"service.webhook.hook": "url: https://hook/base",
		"context":              "argocdUrl: https://ferry.example.com",
	}, nil)
	ev := testEvent(TriggerSyncStatusUnknown)
	ev.App["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "ComparisonError", "message": "resolve main: not found"},
	}}
	// Argo CD's catalog message: Slack gets the emoji, others the conditions.
	tests := map[string]string{
		"slack": ":exclamation: Application guestbook sync is 'Unknown'.\n" +
			"Application details: https://ferry.example.com/applications/guestbook.\n\n",
		"hook": " Application guestbook sync is 'Unknown'.\n" +
			"Application details: https://ferry.example.com/applications/guestbook.\n\n\n" +
			"    * resolve main: not found\n\n\n",
	}
	for service, want := range tests {
		n := renderOne(t, c, ev, Destination{Service: service})
		if n.Template != "app-sync-status-unknown" || n.Message != want {
			t.Errorf("%s: template %q message\n%q\nwant\n%q", service, n.Template, n.Message, want)
		}
	}
}

func TestRenderServiceTypeAndRecipient(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":          "url: https://slack",
		"service.slack.ops":      "url: https://slack/ops",
		"service.webhook.hook":   "url: https://hook/base",
		"template.app-deployed":  "message: '{{.serviceType}}|{{.recipient}}|{{.ServiceType}}'",
		"trigger.on-out-of-sync": "- send: [app-deployed]",
	}, nil)
	tests := []struct {
		d    Destination
		want string
	}{
		{Destination{Service: "slack", Recipient: "#deploys"}, "slack|#deploys|slack"},
		{Destination{Service: "ops"}, "slack||slack"},
		{Destination{Service: "hook"}, "webhook||webhook"},
	}
	for _, tt := range tests {
		if n := renderOne(t, c, testEvent(TriggerDeployed), tt.d); n.Message != tt.want {
			t.Errorf("%v: %q, want %q", tt.d, n.Message, tt.want)
		}
	}
}
