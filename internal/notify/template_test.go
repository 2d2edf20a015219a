package notify

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
	ns, err := c.Render(ev, c.TemplatesOf(ev.Trigger), d)
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
		TriggerCreated:        "Application guestbook has been created.",
		TriggerDeleted:        "Application guestbook has been deleted.",
	}
	for trigger, want := range tests {
		ev := testEvent(trigger)
		ev.Context = map[string]string{"manager": "kubectl-edit"}
		n := renderOne(t, c, ev, Destination{Service: "slack", Recipient: "#ops"})
		if n.Message != want {
			t.Errorf("%s: got %q, want %q", trigger, n.Message, want)
		}
		if n.Template != "app-"+strings.TrimPrefix(trigger, "on-") || n.Trigger != trigger {
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
  when: "true"
- send: [first, app-deployed]
  when: "false"`,
		"template.first": `
message: "{{.trigger}} {{.app.metadata.name}} {{short .revision}} {{.repoURL}} {{.context.env}}/{{.context.argocdUrl}} [{{.context.missing}}]"
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
	if got := c.TemplatesOf(TriggerSyncFailed); !reflect.DeepEqual(got, []string{"first", "second", "app-deployed"}) {
		t.Errorf("TemplatesOf = %v", got)
	}
	ev := testEvent(TriggerSyncFailed)
	ev.Message = `say "<hi>"`
	ev.Context = map[string]string{"env": "staging"}

	ns, err := c.Render(ev, []string{"first", "second"}, Destination{Service: "slack", Recipient: "#a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Template != "first" || ns[1].Template != "second" {
		t.Fatalf("Render = %+v", ns)
	}
	wantMsg := "on-sync-failed guestbook 0123456 https://github.com/acme/guestbook.git staging/https://ferry.example.com []"
	var st slackTemplate
	if _, err := ns[0].Section("slack", &st); err != nil || ns[0].Message != wantMsg || st.Text != `slack: say "<hi>"` {
		t.Errorf("first = %q / %q (%v)", ns[0].Message, st.Text, err)
	}
	// second renders an empty message and no slack text: nothing to send.
	if err := fast.Send(t.Context(), c, ns[1]); !errors.Is(err, ErrNothingToSend) {
		t.Errorf("Send(second) = %v, want ErrNothingToSend", err)
	}

	ns, err = c.Render(ev, []string{"first", "app-deployed"}, Destination{Service: "hook"})
	if err != nil {
		t.Fatal(err)
	}
	hook := c.services["hook"]
	outs, err := hook.requests(ns[0])
	if err != nil || len(outs) != 1 {
		t.Fatalf("requests = %+v, %v", outs, err)
	}
	if o := outs[0]; o.method != "PATCH" || o.url != "https://hook/base/apps/guestbook" ||
		string(o.body) != `{"app": "guestbook", "msg": "say \"<hi>\"", "env": "staging"}`+"\n" {
		t.Errorf("webhook request = %s %s %s", o.method, o.url, o.body)
	}
	// A template without a webhook part sends the default JSON body.
	outs, err = hook.requests(ns[1])
	if err != nil || len(outs) != 1 {
		t.Fatalf("requests = %+v, %v", outs, err)
	}
	want := `{"trigger":"on-sync-failed","application":"guestbook","namespace":"ferry","revision":"` + sha + `","message":"Application guestbook is deployed at 0123456 and healthy: say \"<hi>\""}`
	if o := outs[0]; o.method != "POST" || o.url != "https://hook/base" || string(o.body) != want {
		t.Errorf("default webhook request = %s %s %s, want body %s", o.method, o.url, o.body, want)
	}
}

func TestRenderErrors(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":          "url: https://slack",
		"service.github":         "token: t",
		"trigger.on-out-of-sync": "- when: 'true'\n  send: [bad]",
		"template.bad":           "message: '{{.app.metadata.name.first}}'",
	}, nil)
	if _, err := c.Render(testEvent(TriggerOutOfSync), c.TemplatesOf(TriggerOutOfSync), Destination{Service: "slack"}); err == nil ||
		!strings.Contains(err.Error(), "template.bad") {
		t.Errorf("Render(bad) = %v", err)
	}
	if _, err := c.Render(testEvent(TriggerOutOfSync), []string{"nope"}, Destination{Service: "slack"}); err == nil ||
		!strings.Contains(err.Error(), `template "nope" is not defined`) {
		t.Errorf("Render(nope) = %v", err)
	}
	tests := []struct {
		ev   Event
		d    Destination
		want string
	}{
		{testEvent(TriggerSyncFailed), Destination{Service: "teams"}, `service "teams" is not configured`},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: sha, RepoURL: "not a url"},
			Destination{Service: "github"}, `repoURL "not a url"`},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: "v1.2.3", RepoURL: "https://github.com/a/b"},
			Destination{Service: "github"}, `revision "v1.2.3"`},
		{Event{Trigger: TriggerDeployed, App: testEvent("").App, Revision: sha, RepoURL: "https://github.com/a/b/c"},
			Destination{Service: "github"}, "owner/repo"},
	}
	for _, tt := range tests {
		ns, err := c.Render(tt.ev, []string{"app-deployed"}, tt.d)
		if err != nil {
			t.Fatal(err)
		}
		err = fast.Send(t.Context(), c, ns[0])
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Send(%s, %v) error = %v, want %q", tt.ev.Trigger, tt.d, err, tt.want)
		}
	}
}

func TestTemplateFuncs(t *testing.T) {
	tmpl, err := compileTemplate("t", map[string]any{"message": `{{short .a}}|{{short .b}}|{{short .none}}|{{toJson .m}}|{{upper "sprig"}}|{{env "HOME"}}`})
	if err == nil {
		t.Fatal("env is not offered, as in Argo CD")
	}
	tmpl, err = compileTemplate("t", map[string]any{"message": `{{short .a}}|{{short .b}}|{{short .none}}|{{toJson .m}}|{{upper "sprig"}}`})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.render(map[string]any{"a": sha, "b": "v1", "m": map[string]any{"k": "<&>"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `0123456|v1||{"k":"<&>"}|SPRIG`; got["message"] != want {
		t.Errorf("got %q, want %q", got["message"], want)
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
		"service.slack":         "url: https://slack",
		"service.slack.ops":     "url: https://slack/ops",
		"service.webhook.hook":  "url: https://hook/base",
		"template.app-deployed": "message: '{{.serviceType}}|{{.recipient}}'",
	}, nil)
	// As in Argo CD, .serviceType is the destination's service name.
	tests := []struct {
		d    Destination
		want string
	}{
		{Destination{Service: "slack", Recipient: "#deploys"}, "slack|#deploys"},
		{Destination{Service: "ops"}, "ops|"},
		{Destination{Service: "hook"}, "hook|"},
	}
	for _, tt := range tests {
		if n := renderOne(t, c, testEvent(TriggerDeployed), tt.d); n.Message != tt.want {
			t.Errorf("%v: %q, want %q", tt.d, n.Message, tt.want)
		}
	}
}

// TestCatalogTemplatesRender: Argo CD's catalog templates, as its files
// write them (testdata, copied from notifications_catalog/templates), load
// unchanged and render to what each service parses: Slack attachments and
// Teams facts as JSON, an email subject.
func TestCatalogTemplatesRender(t *testing.T) {
	for _, name := range []string{"app-deployed", "app-sync-failed"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		c := mustParse(t, map[string]string{"template." + name: string(data), "service.slack": "url: https://slack",
			"context": "argocdUrl: https://ferry.example.com"}, nil)
		ev := testEvent(TriggerSyncFailed)
		ev.App["spec"] = map[string]any{"source": map[string]any{"repoURL": "https://github.com/acme/guestbook.git"}}
		ev.App["status"] = map[string]any{"sync": map[string]any{"status": "OutOfSync", "revision": sha},
			"operationState": map[string]any{"finishedAt": "2026-12-06T04:00:00Z", "message": `one or more objects failed: "quoted"`},
			"conditions":     []any{map[string]any{"type": "SyncError", "message": "apply failed"}}}
		ns, err := c.Render(ev, []string{name}, Destination{Service: "slack", Recipient: "deploys"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := ns[0]
		msg, _, ok, err := slackMessageOf(n)
		if err != nil || !ok {
			t.Fatalf("%s: slack: %v", name, err)
		}
		var attachments []struct {
			Title     string `json:"title"`
			TitleLink string `json:"title_link"`
			Fields    []struct{ Title, Value string }
		}
		if err := json.Unmarshal(msg.Attachments, &attachments); err != nil || len(attachments) != 1 ||
			attachments[0].Title != "guestbook" || attachments[0].TitleLink != "https://ferry.example.com/applications/guestbook" {
			t.Errorf("%s: attachments %s: %v", name, msg.Attachments, err)
		}
		if !strings.HasPrefix(strings.TrimSpace(msg.Text), ":") || !strings.Contains(msg.Text, "guestbook") {
			t.Errorf("%s: text %q: want the catalog's Slack emoji and the name", name, msg.Text)
		}
		teams, _ := n.Fields["teams"].(map[string]any)
		if facts, _ := teams["facts"].(string); !json.Valid([]byte(facts)) {
			t.Errorf("%s: teams.facts is not JSON:\n%s", name, facts)
		}
		email, _ := n.Fields["email"].(map[string]any)
		if subject, _ := email["subject"].(string); !strings.Contains(subject, "guestbook") {
			t.Errorf("%s: email subject %q", name, subject)
		}
	}
}

// TestSectionReadsScalarsAsTheTargetWants: `details: {port: 8080}` fills a
// string as "8080", as Argo CD's engine reads templates.
func TestSectionReadsScalarsAsTheTargetWants(t *testing.T) {
	n := Notification{Fields: map[string]any{"x": map[string]any{"port": 8080, "on": true, "name": "a"}}}
	var v struct {
		Port string `json:"port"`
		On   bool   `json:"on"`
		Name string `json:"name"`
	}
	if ok, err := n.Section("x", &v); !ok || err != nil || v.Port != "8080" || !v.On || v.Name != "a" {
		t.Errorf("Section = %+v, %v, %v", v, ok, err)
	}
}
