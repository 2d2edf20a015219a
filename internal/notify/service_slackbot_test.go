package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

// slackDocsTemplate is Argo CD's documented template.app-sync-failed
// (docs/services/slack.md): attachments, grouped by revision, broadcast.
const slackDocsTemplate = `
message: |
  Application {{.app.metadata.name}} sync is {{.app.status.sync.status}}.
  Application details: {{.context.argocdUrl}}/applications/{{.app.metadata.name}}.
slack:
  attachments: |
    [{
      "title": "{{.app.metadata.name}}",
      "title_link": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
      "color": "#ff0000",
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
  # Aggregate the messages to the thread by git commit hash
  groupingKey: "{{.app.status.sync.revision}}"
  notifyBroadcast: true
`

// slackEvent is testEvent with the fields Argo CD's Slack templates read.
func slackEvent(trigger, revision string) Event {
	ev := testEvent(trigger)
	ev.App["status"] = map[string]any{"sync": map[string]any{"status": "OutOfSync", "revision": revision}}
	ev.App["spec"].(map[string]any)["source"] = map[string]any{"repoURL": "https://github.com/acme/guestbook.git"}
	return ev
}

// slackBody is a chat.postMessage or chat.update body, decoded.
type slackBody struct {
	Channel     string `json:"channel"`
	Text        string `json:"text"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Fields    []struct {
			Title, Value string
		} `json:"fields"`
	} `json:"attachments"`
	Username       string `json:"username"`
	IconEmoji      string `json:"icon_emoji"`
	IconURL        string `json:"icon_url"`
	ThreadTS       string `json:"thread_ts"`
	ReplyBroadcast bool   `json:"reply_broadcast"`
	UnfurlLinks    *bool  `json:"unfurl_links"`
	UnfurlMedia    *bool  `json:"unfurl_media"`
	TS             string `json:"ts"`
	AsUser         bool   `json:"as_user"`
}

func decodeSlack(t *testing.T, g received) slackBody {
	t.Helper()
	var b slackBody
	if err := json.Unmarshal([]byte(g.body), &b); err != nil {
		t.Fatalf("body %s: %v", g.body, err)
	}
	return b
}

func slackBotConfig(t *testing.T, base, extra string, templates map[string]string) *Config {
	t.Helper()
	cm := map[string]string{
		"service.slack": "token: $slack-token\napiURL: " + base + "/api/\n" + extra,
		"context":       "argocdUrl: https://argocd.example.com",
	}
	for k, v := range templates {
		cm[k] = v
	}
	return mustParse(t, cm, map[string][]byte{"slack-token": []byte("xoxb-1234-secret")})
}

const slackOK = `{"ok":true,"channel":"C0123","ts":"1700000000.000100"}`

func TestSendSlackBot(t *testing.T) {
	r, base := serve(t)
	r.reply = slackOK
	c := slackBotConfig(t, base, "username: argocd\nicon: \":robot_face:\"\ndisableUnfurl: true\nsigningSecret: $absent",
		map[string]string{"template.app-sync-failed": slackDocsTemplate})
	if err := deliver(t, c, slackEvent(TriggerSyncFailed, sha), Destination{Service: "slack", Recipient: "my_channel"}); err != nil {
		t.Fatal(err)
	}
	g := only(t, r)
	if g.method != "POST" || g.uri != "/api/chat.postMessage" {
		t.Errorf("request %s %s", g.method, g.uri)
	}
	if a := g.header.Get("Authorization"); a != "Bearer xoxb-1234-secret" {
		t.Errorf("Authorization %q", a)
	}
	if ct := g.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	b := decodeSlack(t, g)
	wantText := "Application guestbook sync is OutOfSync.\nApplication details: https://argocd.example.com/applications/guestbook.\n"
	if b.Channel != "my_channel" || b.Text != wantText {
		t.Errorf("channel %q text %q", b.Channel, b.Text)
	}
	if len(b.Attachments) != 1 || b.Attachments[0].Title != "guestbook" ||
		b.Attachments[0].TitleLink != "https://argocd.example.com/applications/guestbook" ||
		len(b.Attachments[0].Fields) != 2 || b.Attachments[0].Fields[1].Value != "https://github.com/acme/guestbook.git" {
		t.Errorf("attachments %+v", b.Attachments)
	}
	if b.Username != "argocd" || b.IconEmoji != ":robot_face:" || b.IconURL != "" {
		t.Errorf("username %q icon %q %q", b.Username, b.IconEmoji, b.IconURL)
	}
	if b.UnfurlLinks == nil || *b.UnfurlLinks || b.UnfurlMedia == nil || *b.UnfurlMedia {
		t.Errorf("unfurl not disabled: %s", g.body)
	}
	if b.ThreadTS != "" || b.ReplyBroadcast {
		t.Errorf("the first message is in a thread: %s", g.body)
	}
}

// The template's username and icon win over the service's.
func TestSendSlackBotTemplateIdentity(t *testing.T) {
	r, base := serve(t)
	r.reply = slackOK
	c := slackBotConfig(t, base, "username: argocd\nicon: \":robot_face:\"", map[string]string{
		"template.app-deployed": "message: deployed\nslack:\n  username: testbot\n  icon: https://example.com/image.png\n",
	})
	if err := deliver(t, c, slackEvent(TriggerDeployed, sha), Destination{Service: "slack", Recipient: "ops"}); err != nil {
		t.Fatal(err)
	}
	b := decodeSlack(t, only(t, r))
	if b.Text != "deployed" || b.Username != "testbot" || b.IconURL != "https://example.com/image.png" || b.IconEmoji != "" {
		t.Errorf("body %+v", b)
	}
	if b.UnfurlLinks != nil {
		t.Errorf("unfurl set without disableUnfurl")
	}
}

func TestSendSlackBotThreads(t *testing.T) {
	r, base := serve(t)
	r.reply = slackOK
	c := slackBotConfig(t, base, "", map[string]string{"template.app-sync-failed": slackDocsTemplate})
	ops := Destination{Service: "slack", Recipient: "ops"}
	for _, d := range []struct {
		dest Destination
		rev  string
	}{{ops, sha}, {ops, sha}, {Destination{Service: "slack", Recipient: "dev"}, sha}, {ops, "fedcba9876543210"}} {
		if err := deliver(t, c, slackEvent(TriggerSyncFailed, d.rev), d.dest); err != nil {
			t.Fatal(err)
		}
	}
	reqs := r.requests()
	if len(reqs) != 4 {
		t.Fatalf("got %d requests, want 4", len(reqs))
	}
	want := []struct {
		channel, threadTS string
		broadcast         bool
	}{
		{"ops", "", false},                 // starts the thread of (ops, sha)
		{"ops", "1700000000.000100", true}, // in it, broadcast (notifyBroadcast: true)
		{"dev", "", false},                 // another channel: another thread
		{"ops", "", false},                 // another grouping key: another thread
	}
	for i, w := range want {
		b := decodeSlack(t, reqs[i])
		if reqs[i].uri != "/api/chat.postMessage" || b.Channel != w.channel || b.ThreadTS != w.threadTS || b.ReplyBroadcast != w.broadcast {
			t.Errorf("request %d: %s %s, want channel %s thread_ts %q broadcast %v", i, reqs[i].uri, reqs[i].body, w.channel, w.threadTS, w.broadcast)
		}
	}
}

func TestSendSlackBotDeliveryPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy string
		want   []string // the second notification's calls
	}{
		{"Post", []string{"chat.postMessage"}},
		{"PostAndUpdate", []string{"chat.postMessage", "chat.update"}},
		{"Update", []string{"chat.update"}},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			r, base := serve(t)
			r.reply = slackOK
			c := slackBotConfig(t, base, "", map[string]string{"template.app-deployed": `
message: "{{.app.metadata.name}} is {{.app.status.sync.status}}"
slack:
  groupingKey: "{{.app.metadata.name}}"
  deliveryPolicy: ` + tt.policy + "\n"})
			d := Destination{Service: "slack", Recipient: "#ops"}
			for range 2 {
				if err := deliver(t, c, slackEvent(TriggerDeployed, sha), d); err != nil {
					t.Fatal(err)
				}
			}
			reqs := r.requests()
			if len(reqs) != 1+len(tt.want) || reqs[0].uri != "/api/chat.postMessage" {
				t.Fatalf("got %d requests, want %d", len(reqs), 1+len(tt.want))
			}
			for i, method := range tt.want {
				g := reqs[1+i]
				b := decodeSlack(t, g)
				if g.uri != "/api/"+method || g.header.Get("Authorization") != "Bearer xoxb-1234-secret" {
					t.Errorf("call %d: %s", i, g.uri)
				}
				switch method {
				case "chat.postMessage":
					if b.Channel != "#ops" || b.ThreadTS != "1700000000.000100" {
						t.Errorf("post %s", g.body)
					}
				case "chat.update": // the thread's parent, by the channel ID Slack answered
					if b.Channel != "C0123" || b.TS != "1700000000.000100" || b.Text != "guestbook is OutOfSync" || !b.AsUser {
						t.Errorf("update %s", g.body)
					}
				}
			}
		})
	}
}

func TestSendSlackBotNotOK(t *testing.T) {
	r, base := serve(t)
	r.reply = `{"ok":false,"error":"channel_not_found"}`
	c := slackBotConfig(t, base, "", nil)
	err := deliver(t, c, slackEvent(TriggerSyncFailed, sha), Destination{Service: "slack", Recipient: "nowhere"})
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("error %v, want channel_not_found", err)
	}
	if strings.Contains(err.Error(), "xoxb-1234-secret") {
		t.Errorf("error %q shows the token", err)
	}
	if n := len(r.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (not retried)", n)
	}
}

func TestParseSlackForms(t *testing.T) {
	c := mustParse(t, map[string]string{
		"service.slack":      "token: $t",
		"service.slack.hook": "url: https://hooks.slack.com/services/T0/B0/XYZ",
	}, map[string][]byte{"t": []byte("xoxb-x")})
	bot, ok := c.services["slack"].(*slackBotService)
	if !ok || bot.apiURL != defaultSlackAPI || bot.token != "xoxb-x" {
		t.Errorf("token form = %#v", c.services["slack"])
	}
	if _, ok := c.services["hook"].(*slackService); !ok {
		t.Errorf("url form = %#v", c.services["hook"])
	}
	if got := c.redact("xoxb-x"); got != "***" {
		t.Errorf("the token is not redacted: %q", got)
	}
	c = mustParse(t, map[string]string{"service.slack": "token: x\napiURL: https://slack.example.com/api"}, nil)
	if u := c.services["slack"].(*slackBotService).apiURL; u != "https://slack.example.com/api/" {
		t.Errorf("apiURL %q", u)
	}
	if _, err := Parse(map[string]string{"service.slack": "token: x\napiURL: slack"}, nil); err == nil || !strings.Contains(err.Error(), "apiURL") {
		t.Errorf("relative apiURL: %v", err)
	}
}
