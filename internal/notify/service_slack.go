package notify

import (
	"errors"
	"fmt"
	"strings"
)

type slackService struct{ url string }

func parseSlack(p *parser, key, _, value string) (service, error) {
	var s struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if s.URL == "" && s.Token != "" {
		return nil, fmt.Errorf("%s: url is required: Ferry posts to incoming webhooks, token-based Slack apps are not supported", key)
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

func (s *slackService) render(t *messageTemplate, data map[string]any, _ Event, n *Notification) (bool, error) {
	text := n.Message
	if t.slackText != nil {
		var err error
		if text, err = execute(t.slackText, data); err != nil {
			return false, err
		}
	}
	if strings.TrimSpace(text) == "" {
		return false, nil
	}
	n.Slack = &SlackMessage{Text: text, Channel: n.Destination.Recipient}
	return true, nil
}

func (s *slackService) request(n Notification) (outbound, error) {
	if n.Slack == nil {
		return outbound{}, errors.New("notification was not rendered for Slack")
	}
	body, err := toJSON(struct {
		Channel string `json:"channel,omitempty"`
		Text    string `json:"text"`
	}{n.Slack.Channel, n.Slack.Text})
	if err != nil {
		return outbound{}, err
	}
	return jsonPost(s.url, []byte(body)), nil
}
