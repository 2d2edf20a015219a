package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

// decodeJSONBody decodes a request's JSON body; it fails the test unless
// the request says it is JSON.
func decodeJSONBody(t *testing.T, r received) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// jsonAt is the value at path (object keys and array indexes) in v; nil
// when there is none.
func jsonAt(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// checkFields compares values in body: path (dot-separated, numbers are
// indexes) → want.
func checkFields(t *testing.T, body map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		var p []any
		for _, s := range strings.Split(path, ".") {
			if len(s) == 1 && s[0] >= '0' && s[0] <= '9' {
				p = append(p, int(s[0]-'0'))
			} else {
				p = append(p, s)
			}
		}
		got := jsonAt(body, p...)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s = %s, want %s", path, gj, wj)
		}
	}
}

// teamsEvent is an Application that synced, with what Argo CD's teams
// examples print.
func teamsEvent() Event {
	ev := testEvent(TriggerSyncSucceeded)
	ev.App["spec"].(map[string]any)["source"] = map[string]any{"repoURL": "https://github.com/acme/guestbook.git", "targetRevision": "main"}
	ev.App["status"] = map[string]any{
		"sync":           map[string]any{"status": "Synced", "revision": sha},
		"operationState": map[string]any{"finishedAt": "2024-05-01T10:00:00Z"},
	}
	return ev
}

const teamsHookPath = "/webhookb2/0f1e2d3c@4b5a6978/IncomingWebhook/secret0123/8796a5b4"

func teamsConfig(t *testing.T, base, template string) *Config {
	t.Helper()
	return mustParse(t, map[string]string{
		"service.teams": "recipientUrls:\n  channelName: $channel-teams-url\n",
		"context":       "argocdUrl: https://argocd.example.com\n",
		// Argo CD's docs/services/teams.md, as written there.
		"template.app-sync-succeeded": template,
	}, map[string][]byte{"channel-teams-url": []byte(base + teamsHookPath)})
}

func TestSendTeams(t *testing.T) {
	r, base := serve(t)
	r.reply = "1"
	c := teamsConfig(t, base, `
teams:
  themeColor: "#000080"
  sections: |
    [{
      "facts": [
        {
          "name": "Sync Status",
          "value": "{{.app.status.sync.status}}"
        },
        {
          "name": "Repository",
          "value": "{{.app.spec.source.repoURL}}"
        }
      ]
    }]
  potentialAction: |-
    [{
      "@type":"OpenUri",
      "name":"Operation Details",
      "targets":[{
        "os":"default",
        "uri":"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true"
      }]
    }]
  title: Application {{.app.metadata.name}} has been successfully synced
  text: Application {{.app.metadata.name}} has been successfully synced at {{.app.status.operationState.finishedAt}}.
  summary: "{{.app.metadata.name}} sync succeeded"
`)
	if err := deliver(t, c, teamsEvent(), Destination{Service: "teams", Recipient: "channelName"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	if got.method != "POST" || got.uri != teamsHookPath {
		t.Errorf("request %s %s, want POST %s", got.method, got.uri, teamsHookPath)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"@type":      "MessageCard",
		"@context":   "https://schema.org/extensions",
		"themeColor": "#000080",
		"title":      "Application guestbook has been successfully synced",
		"text":       "Application guestbook has been successfully synced at 2024-05-01T10:00:00Z.",
		"summary":    "guestbook sync succeeded",
		"sections": []any{map[string]any{"facts": []any{
			map[string]any{"name": "Sync Status", "value": "Synced"},
			map[string]any{"name": "Repository", "value": "https://github.com/acme/guestbook.git"},
		}}},
		"potentialAction": []any{map[string]any{"@type": "OpenUri", "name": "Operation Details", "targets": []any{
			map[string]any{"os": "default", "uri": "https://argocd.example.com/applications/guestbook?operation=true"},
		}}},
	})
}

func TestSendTeamsFactsAndDefaults(t *testing.T) {
	r, base := serve(t)
	r.reply = "1"
	// The docs' facts example: facts make one more section; the text is
	// the message.
	c := teamsConfig(t, base, `
message: "{{.app.metadata.name}} synced"
teams:
  facts: |
    [{
      "name": "Sync Status",
      "value": "{{.app.status.sync.status}}"
    },
    {
      "name": "Repository",
      "value": "{{.app.spec.source.repoURL}}"
    }]
`)
	if err := deliver(t, c, teamsEvent(), Destination{Service: "teams", Recipient: "channelName"}); err != nil {
		t.Fatal(err)
	}
	body := decodeJSONBody(t, only(t, r))
	checkFields(t, body, map[string]any{
		"@type": "MessageCard",
		"text":  "guestbook synced",
		"sections": []any{map[string]any{"facts": []any{
			map[string]any{"name": "Sync Status", "value": "Synced"},
			map[string]any{"name": "Repository", "value": "https://github.com/acme/guestbook.git"},
		}}},
	})
	for _, k := range []string{"title", "summary", "themeColor", "potentialAction"} {
		if _, ok := body[k]; ok {
			t.Errorf("body has %s: %s", k, only(t, r).body)
		}
	}
}

func TestSendTeamsTemplateCard(t *testing.T) {
	r, base := serve(t)
	r.reply = "1"
	c := teamsConfig(t, base, `
teams:
  template: |
    {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
     "content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"{{.app.metadata.name}} synced"}]}}]}
`)
	if err := deliver(t, c, teamsEvent(), Destination{Service: "teams", Recipient: "channelName"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
 "content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"guestbook synced"}]}}]}
`
	if got.body != want {
		t.Errorf("body = %s, want the template as it is: %s", got.body, want)
	}
	checkFields(t, decodeJSONBody(t, got), map[string]any{"attachments.0.content.body.0.text": "guestbook synced"})
}

func TestSendTeamsFailures(t *testing.T) {
	secret := strings.TrimPrefix(teamsHookPath, "/")
	const good = "teams:\n  title: synced\n"
	tests := []struct {
		name      string
		template  string
		recipient string
		status    int
		reply     string
		want      []string
	}{
		{"connector error in a 200", good, "channelName", 200,
			"Microsoft Teams endpoint returned HTTP error 429 for " + secret,
			[]string{"notify teams (template app-sync-succeeded)", "not 1", "429"}},
		{"unauthorized", good, "channelName", 401, "bad webhook " + secret,
			[]string{"notify teams (template app-sync-succeeded)", "401"}},
		{"unknown recipient", good, "other", 200, "1",
			[]string{"notify teams", `recipient "other"`, "recipientUrls", "channelName"}},
		{"facts not JSON", "teams:\n  facts: '[{\"name\": '\n", "channelName", 200, "1",
			[]string{"template app-sync-succeeded", "teams.facts"}},
		{"section not an object", "teams:\n  sections: '[1]'\n", "channelName", 200, "1",
			[]string{"template app-sync-succeeded", "teams.sections[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, base := serve(t, tt.status)
			r.reply = tt.reply
			c := teamsConfig(t, base, tt.template)
			err := deliver(t, c, teamsEvent(), Destination{Service: "teams", Recipient: tt.recipient})
			failsSafely(t, err, tt.want, "secret0123")
		})
	}
}

func TestParseTeamsErrors(t *testing.T) {
	secret := map[string][]byte{"u": []byte("https://outlook.office.com/webhook/s3cr3t")}
	for _, tt := range []struct{ value, want string }{
		{"recipientUrls: {}", "recipientUrls is required"},
		{"recipientUrls: {a: $missing}", `"missing"`},
		{"recipientUrls: {a: not-a-url}", "recipientUrls.a"},
	} {
		_, err := Parse(map[string]string{"service.teams": tt.value}, secret)
		if err == nil || !strings.Contains(err.Error(), "service.teams") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want service.teams and %q", tt.value, err, tt.want)
		}
	}
}
