package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSendMattermost(t *testing.T) {
	r, base := serve(t, 201)
	c := mustParse(t, map[string]string{
		"service.mattermost": "apiURL: " + base + "/\ntoken: $mattermost-token",
		"context":            "argocdUrl: https://argocd.example.com",
		// docs/services/mattermost.md
		"template.app-deployed": `
message: |
  Application {{.app.metadata.name}} is now running new version of deployments manifests.
mattermost:
  attachments: |
    [{
      "title": "{{.app.metadata.name}}",
      "title_link": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
      "color": "#18be52",
      "fields": [{
        "title": "Sync Status",
        "value": "{{.app.status.sync.status}}",
        "short": true
      }, {
        "title": "Repository",
        "value": "{{.app.spec.source.repoURL}}",
        "short": true
      }]
    }]
`,
	}, map[string][]byte{"mattermost-token": []byte("mm-secret-token")})
	ev := slackEvent(TriggerDeployed, sha)
	if err := deliver(t, c, ev, Destination{Service: "mattermost", Recipient: "ch4nn3lid"}); err != nil {
		t.Fatal(err)
	}
	g := only(t, r)
	if g.method != "POST" || g.uri != "/api/v4/posts" {
		t.Errorf("request %s %s", g.method, g.uri)
	}
	if a := g.header.Get("Authorization"); a != "Bearer mm-secret-token" {
		t.Errorf("Authorization %q", a)
	}
	var b struct {
		ChannelID string `json:"channel_id"`
		Message   string `json:"message"`
		Props     struct {
			Attachments []struct {
				Title     string `json:"title"`
				TitleLink string `json:"title_link"`
				Color     string `json:"color"`
				Fields    []struct{ Title, Value string }
			} `json:"attachments"`
		} `json:"props"`
	}
	if err := json.Unmarshal([]byte(g.body), &b); err != nil {
		t.Fatalf("body %s: %v", g.body, err)
	}
	if b.ChannelID != "ch4nn3lid" || b.Message != "Application guestbook is now running new version of deployments manifests.\n" {
		t.Errorf("channel_id %q message %q", b.ChannelID, b.Message)
	}
	a := b.Props.Attachments
	if len(a) != 1 || a[0].Title != "guestbook" || a[0].TitleLink != "https://argocd.example.com/applications/guestbook" ||
		a[0].Color != "#18be52" || len(a[0].Fields) != 2 || a[0].Fields[0].Value != "OutOfSync" {
		t.Errorf("attachments %+v", a)
	}
}

// Without attachments the engine still sends props.attachments, empty.
func TestSendMattermostMessageOnly(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{"service.mattermost": "apiURL: " + base + "\ntoken: tok"}, nil)
	if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "mattermost", Recipient: "c1"}); err != nil {
		t.Fatal(err)
	}
	want := `{"channel_id":"c1","message":"Application guestbook sync failed at 0123456: apply failed","props":{"attachments":[]}}`
	if g := only(t, r); g.body != want {
		t.Errorf("body %s, want %s", g.body, want)
	}
}

func TestParseMattermostErrors(t *testing.T) {
	for name, value := range map[string]string{
		"apiURL": "token: t",
		"token":  "apiURL: https://mm.example.com",
	} {
		_, err := Parse(map[string]string{"service.mattermost": value}, nil)
		if err == nil || !strings.Contains(err.Error(), "service.mattermost") || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v", name, err)
		}
	}
	c := mustParse(t, map[string]string{
		"service.mattermost":    "apiURL: https://mm.example.com\ntoken: t",
		"template.app-deployed": "message: x\nmattermost:\n  attachments: '{\"title\": 1}'\n",
	}, nil)
	ns, err := c.Render(testEvent(TriggerDeployed), c.TemplatesOf(TriggerDeployed), Destination{Service: "mattermost", Recipient: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fast.Send(t.Context(), c, ns[0]); err == nil || !strings.Contains(err.Error(), "mattermost.attachments") {
		t.Errorf("attachments not an array: %v", err)
	}
}
