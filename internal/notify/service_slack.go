package notify

import (
	"encoding/json"
	"fmt"
	"strings"
)

type slackService struct{ url string }

func parseSlack(p *parser, key, name, value string) (service, error) {
	var s struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if s.Token != "" { // Argo CD's form: a bot token, chat.postMessage
		if s.URL != "" {
			p.warnf("%s: url is ignored: with a token, messages go to the Web API (apiURL)", key)
		}
		return parseSlackBot(p, key, name, value)
	}
	if err := p.expandAll(key, &s.URL); err != nil {
		return nil, err
	}
	u, err := p.checkURL(key, "url", s.URL)
	if err != nil {
		return nil, err
	}
	p.sensitive(s.URL, strings.TrimPrefix(u.Path, "/")) // the path is the webhook's secret
	return &slackService{url: s.URL}, nil
}

// slackTemplate is a template's slack section, as Argo CD writes it:
// attachments and blocks are JSON text.
type slackTemplate struct {
	Text            string `json:"text"` // Ferry's; the message when empty
	Attachments     string `json:"attachments"`
	Blocks          string `json:"blocks"`
	GroupingKey     string `json:"groupingKey"`
	NotifyBroadcast bool   `json:"notifyBroadcast"`
	DeliveryPolicy  string `json:"deliveryPolicy"`
}

// slackMessage is the JSON both the incoming webhook and chat.postMessage
// take.
type slackMessage struct {
	Channel        string          `json:"channel,omitempty"`
	Text           string          `json:"text"`
	Attachments    json.RawMessage `json:"attachments,omitempty"`
	Blocks         json.RawMessage `json:"blocks,omitempty"`
	Username       string          `json:"username,omitempty"`
	IconEmoji      string          `json:"icon_emoji,omitempty"`
	IconURL        string          `json:"icon_url,omitempty"`
	ThreadTS       string          `json:"thread_ts,omitempty"`
	ReplyBroadcast bool            `json:"reply_broadcast,omitempty"`
	UnfurlLinks    *bool           `json:"unfurl_links,omitempty"`
	UnfurlMedia    *bool           `json:"unfurl_media,omitempty"`
}

// slackMessageOf renders n for Slack; ok false when there is nothing to
// say (no text, attachments or blocks).
func slackMessageOf(n Notification) (msg slackMessage, t slackTemplate, ok bool, err error) {
	if _, err := n.Section("slack", &t); err != nil {
		return msg, t, false, err
	}
	msg = slackMessage{Channel: n.Destination.Recipient, Text: firstNonEmpty(t.Text, n.Message)}
	for _, f := range []struct {
		name string
		text string
		dst  *json.RawMessage
	}{{"attachments", t.Attachments, &msg.Attachments}, {"blocks", t.Blocks, &msg.Blocks}} {
		if strings.TrimSpace(f.text) == "" {
			continue
		}
		if !json.Valid([]byte(f.text)) {
			return msg, t, false, fmt.Errorf("template %s: slack.%s is not valid JSON", n.Template, f.name)
		}
		*f.dst = json.RawMessage(f.text)
	}
	ok = strings.TrimSpace(msg.Text) != "" || msg.Attachments != nil || msg.Blocks != nil
	return msg, t, ok, nil
}

func (s *slackService) requests(n Notification) ([]outbound, error) {
	msg, _, ok, err := slackMessageOf(n)
	if !ok || err != nil {
		return nil, err
	}
	body, err := toJSON(msg)
	if err != nil {
		return nil, err
	}
	return []outbound{jsonPost(s.url, []byte(body))}, nil
}
