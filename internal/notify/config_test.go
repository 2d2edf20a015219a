package notify

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, cm map[string]string, secret map[string][]byte) *Config {
	t.Helper()
	c, err := Parse(cm, secret)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestParseSubstitutesSecrets(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.webhook.hook": `
url: https://hooks.example.com/$path?token=$token
method: put
hmacSecret: $hmac
headers:
- name: Authorization
  value: Bearer $token
- name: X-Host
  value: $host.example.com
`,
		"service.github": "token: $gh",
	}, map[string][]byte{
		"path": []byte("p1"), "token": []byte("t0k"), "hmac": []byte("k3y"),
		"host": []byte("api"), "gh": []byte("ghp_x"),
	})
	w := c.services["hook"].(*webhookService)
	want := &webhookService{
		name: "hook", url: "https://hooks.example.com/p1?token=t0k", method: "PUT",
		headers:    []header{{"Authorization", "Bearer t0k"}, {"X-Host", "api.example.com"}},
		hmacSecret: []byte("k3y"),
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("webhook = %+v, want %+v", w, want)
	}
	g := c.services["github"].(*githubService)
	if g.token != "ghp_x" || g.baseURL != defaultGitHub || g.context != "ferry" {
		t.Errorf("github = %+v", g.statusService)
	}
	if got := c.redact("x t0k k3y ghp_x p1"); got != "x *** *** *** ***" {
		t.Errorf("redact = %q", got)
	}
}

func TestParseErrorsNameKeys(t *testing.T) {
	secret := map[string][]byte{"present": []byte("s3cr3t-value")}
	tests := []struct {
		name string
		cm   map[string]string
		want []string
	}{
		{"missing secret", map[string]string{"service.slack": "url: https://x/$present/$absent"},
			[]string{"service.slack", `"absent"`}},
		{"missing secret in header", map[string]string{"service.webhook.h": "url: https://x\nheaders: [{name: A, value: $nope}]"},
			[]string{"service.webhook.h", `"nope"`}},
		{"bad yaml", map[string]string{"service.slack": "url: [unclosed"}, []string{"service.slack"}},
		{"no url", map[string]string{"service.webhook.h": "method: POST"}, []string{"service.webhook.h", "url is required"}},
		{"relative url", map[string]string{"service.webhook.h": "url: /hook"}, []string{"service.webhook.h", "absolute"}},
		{"bad method", map[string]string{"service.webhook.h": "url: https://x\nmethod: FETCH"}, []string{"service.webhook.h", "FETCH"}},
		{"header name", map[string]string{"service.webhook.h": "url: https://x\nheaders: [{value: v}]"}, []string{"service.webhook.h", "no name"}},
		{"unnamed webhook", map[string]string{"service.webhook": "url: https://x"}, []string{"service.webhook", "needs a name"}},
		{"duplicate name", map[string]string{"service.slack": "url: https://x", "service.webhook.slack": "url: https://y"},
			[]string{"service.webhook.slack", "service.slack"}},
		{"slack api url", map[string]string{"service.slack": "token: xoxb\napiURL: slack"}, []string{"service.slack", "apiURL"}},
		{"github token", map[string]string{"service.github": "baseURL: https://ghe/api/v3"}, []string{"service.github", "token"}},
		{"gitlab base", map[string]string{"service.gitlab": "token: t\nbaseURL: gitlab"}, []string{"service.gitlab", "baseURL"}},
		{"template syntax", map[string]string{"template.t": "message: '{{.app'"}, []string{"template.t"}},
		{"template webhook body", map[string]string{"template.t": "webhook: {h: {body: '{{end}}'}}"}, []string{"template.t.webhook.h.body"}},
		{"template method", map[string]string{"template.t": "webhook: {h: {method: BREW}}"}, []string{"template.t", "BREW"}},
		{"trigger empty send", map[string]string{"trigger.on-sync-failed": "- when: 'true'"}, []string{"trigger.on-sync-failed", "no templates"}},
		{"trigger yaml", map[string]string{"trigger.on-deployed": "send: [a]"}, []string{"trigger.on-deployed"}},
		{"selector", map[string]string{"subscriptions": "- recipients: [slack]\n  selector: 'a in (b'"}, []string{"subscriptions", "selector"}},
		{"recipient", map[string]string{"subscriptions": "- recipients: [':x']"}, []string{"subscriptions", `":x"`}},
		{"default triggers", map[string]string{"defaultTriggers": "a: b"}, []string{"defaultTriggers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.cm, secret)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	c := mustParse(t, map[string]string{
		"trigger.on-created": "- send: [app-deployed]",
		"service.rocketchat": "email: x",
		"subscriptions":      "- recipients: [slack, nowhere]\n  triggers: [on-nothing]",
		"defaultTriggers":    "[on-other]",
		"service.slack":      "url: https://slack",
		"bogus":              "x",
	}, nil)
	want := []string{
		`bogus: unknown key; ignored`,
		`defaultTriggers: trigger "on-other" is not defined (no trigger.on-other key); it never fires`,
		`service.rocketchat: service type "rocketchat" is not supported; ignored`,
		`subscriptions: service "nowhere" is not configured`,
		`subscriptions: trigger "on-nothing" is not defined (no trigger.on-nothing key); it never fires`,
		`trigger.on-created: condition 0 has no ` + "`when`" + `; it never fires`,
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("Warnings =\n%q\nwant\n%q", c.Warnings, want)
	}
	ev := testEvent(TriggerSyncFailed)
	if _, err := c.Render(ev, c.TemplatesOf(TriggerSyncFailed), Destination{Service: "rocketchat"}); err != nil {
		t.Errorf("Render: %v", err)
	}
	if err := fast.Send(context.Background(), c, Notification{Destination: Destination{Service: "rocketchat"}}); err == nil ||
		!strings.Contains(err.Error(), "not supported") {
		t.Errorf("Send to rocketchat: %v", err)
	}
}

func TestParseTriggerErrors(t *testing.T) {
	for cm, want := range map[string]string{
		"- when: app.status.(\n  send: [app-deployed]":               "trigger.on-x: condition 0:",
		"- when: 'true'\n  oncePer: 'a b c'\n  send: [app-deployed]": "trigger.on-x: condition 0:",
		"[]":             "trigger.on-x: no conditions",
		"- when: 'true'": "trigger.on-x: condition 0 has no templates to send",
	} {
		_, err := Parse(map[string]string{"trigger.on-x": cm}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", cm, err, want)
		}
	}
}

func TestDestinations(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":        "url: https://slack",
		"service.webhook.hook": "url: https://hook",
		"service.github":       "token: t",
		"defaultTriggers":      "[on-sync-failed]",
		"defaultTriggers.hook": "[on-deployed]",
		"subscriptions": `
- recipients: [slack:prod-alerts, hook]
  triggers: [on-sync-failed, on-health-degraded]
  selector: env=prod
- recipients: [github]
  triggers: [on-deployed, on-sync-failed]
- recipients: [slack:everything, hook]
`,
	}, nil)
	prod := map[string]string{"env": "prod"}
	annotations := map[string]string{
		"notifications.argoproj.io/subscribe.on-sync-failed.slack": "team-a; team-b;prod-alerts",
		"notifications.argoproj.io/subscribe.on-deployed.hook":     "",
		"notifications.argoproj.io/subscribe.slack":                "defaults",
		"notifications.argoproj.io/subscribe.on-drift-detected.x":  "y",
		"notifications.argoproj.io/subscriptions":                  "ignored",
		"other": "z",
	}
	tests := []struct {
		trigger     string
		labels      map[string]string
		annotations map[string]string
		want        []Destination
	}{
		{TriggerSyncFailed, prod, nil, []Destination{
			{"github", ""}, {"hook", ""}, {"slack", "everything"}, {"slack", "prod-alerts"}}},
		// An entry without triggers: defaultTriggers, never the service's
		// own (Argo CD's rule for the subscriptions key).
		{TriggerSyncFailed, map[string]string{"env": "dev"}, nil, []Destination{
			{"github", ""}, {"hook", ""}, {"slack", "everything"}}},
		{TriggerHealthDegraded, prod, nil, []Destination{{"hook", ""}, {"slack", "prod-alerts"}}},
		{TriggerDeployed, nil, nil, []Destination{{"github", ""}}},
		{TriggerOutOfSync, prod, nil, nil},
		{TriggerSyncFailed, nil, annotations, []Destination{
			{"github", ""}, {"hook", ""}, {"slack", "defaults"}, {"slack", "everything"}, {"slack", "prod-alerts"},
			{"slack", "team-a"}, {"slack", "team-b"}}},
		{TriggerDeployed, nil, annotations, []Destination{{"github", ""}, {"hook", ""}}},
		{TriggerDriftDetected, nil, annotations, []Destination{{"x", "y"}}},
	}
	for _, tt := range tests {
		got := c.Destinations(tt.trigger, tt.labels, tt.annotations)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Destinations(%s, %v, %v) =\n%v\nwant\n%v", tt.trigger, tt.labels, tt.annotations, got, tt.want)
		}
	}
}

// TestAnnotationSubscriptions: Argo CD's other annotation forms.
func TestAnnotationSubscriptions(t *testing.T) {
	c := mustParse(t, map[string]string{"service.slack": "url: https://slack", "defaultTriggers.slack": "[on-deployed]"}, nil)
	annotations := map[string]string{
		"notifications.argoproj.io/subscriptions": `
- trigger: [on-sync-failed, on-deployed]
  destinations:
  - service: slack
    recipients: [a, b]
- destinations: [{service: slack, recipients: [c]}]`,
		"notifications.argoproj.io/subscribe.on-sync-failed.slack.extra": "d",   // Argo CD reads the service as "slack"
		"notifications.argoproj.io/subscribe.on-sync-failed.email":       " ; ", // no recipient
	}
	tests := map[string][]Destination{
		TriggerSyncFailed: {{"slack", "a"}, {"slack", "b"}, {"slack", "d"}},
		TriggerDeployed:   {{"slack", "a"}, {"slack", "b"}, {"slack", "c"}},
	}
	for trigger, want := range tests {
		if got := c.Destinations(trigger, nil, annotations); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", trigger, got, want)
		}
	}
}

func TestMissingTemplateIsAWarning(t *testing.T) {
	c := mustParse(t, map[string]string{"trigger.on-x": "- when: 'true'\n  send: [nope]"}, nil)
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `trigger.on-x: condition 0 sends template "nope", which is not defined`) {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	if _, err := c.Render(testEvent("on-x"), c.TemplatesOf("on-x"), Destination{Service: "x"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Render = %v", err)
	}
}

func TestExpandKeepsLongestSecretKey(t *testing.T) {
	p := &parser{secret: map[string][]byte{"a": []byte("1"), "a.b": []byte("2")}}
	for in, want := range map[string]string{"$a.b": "2", "$a.c": "1.c", "x$a": "x1", "$a/$a.b.c": "1/2.c"} {
		got, err := p.expand("k", in)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseSyncStatusUnknownTrigger(t *testing.T) {
	// Argo CD's catalog entry, as users bring it, replaces the built-in one;
	// its template is built in.
	entry := "- when: app.status.sync.status == 'Unknown'\n  send: [app-sync-status-unknown]"
	c := mustParse(t, map[string]string{
		"trigger.on-sync-status-unknown": entry,
		"subscriptions":                  "- recipients: [slack]\n  triggers: [on-sync-status-unknown]",
		"service.slack":                  "url: https://slack",
	}, nil)
	if len(c.Warnings) != 0 {
		t.Errorf("Warnings = %q", c.Warnings)
	}
	if conds, _ := c.Trigger(TriggerSyncStatusUnknown); len(conds) != 1 || conds[0].OncePer != "" {
		t.Errorf("trigger = %+v, want the configured one (no oncePer)", conds)
	}
	if d := c.Destinations(TriggerSyncStatusUnknown, nil, nil); len(d) != 1 || d[0].Service != "slack" {
		t.Errorf("Destinations = %v", d)
	}
	// Without a trigger entry, the built-in one and its template.
	c = mustParse(t, map[string]string{"service.slack": "url: https://slack"}, nil)
	if names := c.TemplatesOf(TriggerSyncStatusUnknown); !reflect.DeepEqual(names, []string{"app-sync-status-unknown"}) {
		t.Errorf("TemplatesOf = %v", names)
	}
}
