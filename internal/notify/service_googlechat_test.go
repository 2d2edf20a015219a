package notify

import (
	"net/url"
	"regexp"
	"testing"
)

const (
	googleChatKey   = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
	googleChatToken = "tok3n-s3cr3t-Zx9"
)

func googleChatConfig(t *testing.T, base, template string) *Config {
	t.Helper()
	// Argo CD's docs/services/googlechat.md configuration.
	return mustParse(t, map[string]string{
		"service.googlechat":          "webhooks:\n  spaceName: $space-webhook-url\n",
		"template.app-sync-succeeded": template,
	}, map[string][]byte{"space-webhook-url": []byte(base + "/v1/spaces/AAAA1234/messages?key=" + googleChatKey + "&token=" + googleChatToken)})
}

func googleChatEvent() Event {
	ev := testEvent(TriggerSyncSucceeded)
	ev.App["spec"].(map[string]any)["source"] = map[string]any{"repoURL": "git@github.com:acme/guestbook.git", "targetRevision": "main"}
	ev.App["status"] = map[string]any{"sync": map[string]any{"revision": sha}}
	ev.Commits = func(repoURL, rev string) (CommitMetadata, error) {
		return CommitMetadata{Author: "Ada <ada@example.com>"}, nil
	}
	return ev
}

// googleChatCardTemplate is the docs' card message, with the docs' chat
// thread key (quoted: the docs' `threadKey: {{ .app.metadata.name }}` is
// not valid YAML, in Argo CD too).
const googleChatCardTemplate = `
googlechat:
  threadKey: "{{ .app.metadata.name }}"
  cardsV2: |
    - header:
        title: ArgoCD Bot Notification
      sections:
        - widgets:
            - decoratedText:
                text: The app {{ .app.metadata.name }} has successfully synced!
        - widgets:
            - decoratedText:
                topLabel: Repository
                text: {{ call .repo.RepoURLToHTTPS .app.spec.source.repoURL }}
            - decoratedText:
                topLabel: Revision
                text: {{ .app.spec.source.targetRevision }}
            - decoratedText:
                topLabel: Author
                text: {{ (call .repo.GetCommitMetadata .app.status.sync.revision).Author }}
`

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSendGoogleChatCards(t *testing.T) {
	r, base := serve(t)
	r.reply = `{"name":"spaces/AAAA1234/messages/xyz","thread":{"name":"spaces/AAAA1234/threads/t"}}`
	c := googleChatConfig(t, base, googleChatCardTemplate)
	if err := deliver(t, c, googleChatEvent(), Destination{Service: "googlechat", Recipient: "spaceName"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	u, err := url.ParseRequestURI(got.uri)
	if err != nil {
		t.Fatal(err)
	}
	if got.method != "POST" || u.Path != "/v1/spaces/AAAA1234/messages" {
		t.Errorf("request %s %s", got.method, got.uri)
	}
	wantQuery := url.Values{"key": {googleChatKey}, "token": {googleChatToken},
		"threadKey": {"guestbook"}, "messageReplyOption": {"REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"}}
	if q := u.Query(); q.Encode() != wantQuery.Encode() {
		t.Errorf("query = %v, want %v", q, wantQuery)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"cardsV2.0.card": map[string]any{
			"header": map[string]any{"title": "ArgoCD Bot Notification"},
			"sections": []any{
				map[string]any{"widgets": []any{
					map[string]any{"decoratedText": map[string]any{"text": "The app guestbook has successfully synced!"}},
				}},
				map[string]any{"widgets": []any{
					map[string]any{"decoratedText": map[string]any{"topLabel": "Repository", "text": "https://github.com/acme/guestbook.git"}},
					map[string]any{"decoratedText": map[string]any{"topLabel": "Revision", "text": "main"}},
					map[string]any{"decoratedText": map[string]any{"topLabel": "Author", "text": "Ada <ada@example.com>"}},
				}},
			},
		},
	})
	if id, _ := jsonAt(body, "cardsV2", 0, "cardId").(string); !uuidPattern.MatchString(id) {
		t.Errorf("cardId = %q, want a UUID", id)
	}
	if n := len(jsonAt(body, "cardsV2").([]any)); n != 1 {
		t.Errorf("%d cards", n)
	}
	if _, ok := body["text"]; ok {
		t.Errorf("a card message has a text: %s", got.body)
	}
}

func TestSendGoogleChatText(t *testing.T) {
	r, base := serve(t)
	r.reply = `{"name":"spaces/AAAA1234/messages/xyz"}`
	// The docs' simple text message; the legacy cards, in JSON.
	c := googleChatConfig(t, base, "message: The app {{ .app.metadata.name }} has successfully synced!\n")
	if err := deliver(t, c, googleChatEvent(), Destination{Service: "googlechat", Recipient: "spaceName"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := "/v1/spaces/AAAA1234/messages?key=" + googleChatKey + "&token=" + googleChatToken
	if got.uri != want {
		t.Errorf("uri = %s, want %s (no thread)", got.uri, want)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{"text": "The app guestbook has successfully synced!"})
	if len(body) != 1 {
		t.Errorf("body = %s", got.body)
	}

	r2, base2 := serve(t)
	c = googleChatConfig(t, base2, `
message: not sent, as in Argo CD
googlechat:
  cards: '[{"header": {"title": "{{.app.metadata.name}}"}, "sections": [{"widgets": [{"textParagraph": {"text": "synced"}}]}]}]'
`)
	if err := deliver(t, c, googleChatEvent(), Destination{Service: "googlechat", Recipient: "spaceName"}); err != nil {
		t.Fatal(err)
	}
	got = only(t, r2)
	body = decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"cards": []any{map[string]any{"header": map[string]any{"title": "guestbook"},
			"sections": []any{map[string]any{"widgets": []any{map[string]any{"textParagraph": map[string]any{"text": "synced"}}}}}}},
	})
	if _, ok := body["text"]; ok {
		t.Errorf("a card message has a text: %s", got.body)
	}
}

func TestSendGoogleChatFailures(t *testing.T) {
	const echo = "key " + googleChatKey + " token " + googleChatToken
	for _, tt := range []struct {
		name, template, recipient string
		status                    int
		reply                     string
		want                      []string
	}{
		{"error in the reply", "message: hi\n", "spaceName", 200,
			`{"error":{"code":400,"message":"Invalid ` + echo + `","status":"INVALID_ARGUMENT"}}`,
			[]string{"notify googlechat (template app-sync-succeeded)", "code=400", "INVALID_ARGUMENT"}},
		{"rejected", "message: hi\n", "spaceName", 403,
			`{"error":{"code":403,"message":"` + echo + `","status":"PERMISSION_DENIED"}}`,
			[]string{"notify googlechat (template app-sync-succeeded)", "403", "PERMISSION_DENIED"}},
		{"reply not JSON", "message: hi\n", "spaceName", 200, "<html>" + echo,
			[]string{"notify googlechat", "no JSON"}},
		{"unknown recipient", "message: hi\n", "otherSpace", 200, "{}",
			[]string{"notify googlechat", `recipient "otherSpace"`, "webhooks", "spaceName"}},
		{"cards not a list", "googlechat:\n  cardsV2: 'header: x'\n", "spaceName", 200, "{}",
			[]string{"template app-sync-succeeded", "googlechat.cardsV2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, base := serve(t, tt.status)
			r.reply = tt.reply
			c := googleChatConfig(t, base, tt.template)
			err := deliver(t, c, googleChatEvent(), Destination{Service: "googlechat", Recipient: tt.recipient})
			failsSafely(t, err, tt.want, googleChatKey, googleChatToken)
		})
	}
}
