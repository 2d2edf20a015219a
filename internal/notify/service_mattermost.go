package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Mattermost (`service.mattermost: {apiURL, token, insecureSkipVerify}`),
// as Argo CD's notifications engine sends it: a post to the recipient
// channel (its ID) through the REST API v4, with the template's
// mattermost.attachments (Slack-compatible attachments, as JSON text).

type mattermostService struct {
	apiURL   string
	token    string
	insecure bool
}

func parseMattermost(p *parser, key, _, value string) (service, error) {
	var s struct {
		APIURL             string `json:"apiURL"`
		Token              string `json:"token"`
		InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.APIURL, &s.Token); err != nil {
		return nil, err
	}
	if _, err := p.checkURL(key, "apiURL", s.APIURL); err != nil {
		return nil, err
	}
	if s.Token == "" {
		return nil, fmt.Errorf("%s: token is required", key)
	}
	p.sensitive(s.Token)
	return &mattermostService{apiURL: strings.TrimRight(s.APIURL, "/"), token: s.Token, insecure: s.InsecureSkipVerify}, nil
}

func (m *mattermostService) requests(n Notification) ([]outbound, error) {
	var t struct {
		Attachments string `json:"attachments"`
	}
	if _, err := n.Section("mattermost", &t); err != nil {
		return nil, err
	}
	// The engine always sends props.attachments, empty when the template
	// has none.
	attachments := json.RawMessage("[]")
	if text := strings.TrimSpace(t.Attachments); text != "" {
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(text), &list); err != nil {
			return nil, fmt.Errorf("template %s: mattermost.attachments is not a JSON array", n.Template)
		}
		attachments = json.RawMessage(text)
	}
	if strings.TrimSpace(n.Message) == "" && string(attachments) == "[]" {
		return nil, nil
	}
	if n.Destination.Recipient == "" {
		return nil, errors.New("mattermost: no channel (subscribe with mattermost:<channel-id>)")
	}
	type props struct {
		Attachments json.RawMessage `json:"attachments"`
	}
	body, err := toJSON(struct {
		ChannelID string `json:"channel_id"`
		Message   string `json:"message"`
		Props     props  `json:"props"`
	}{n.Destination.Recipient, n.Message, props{attachments}})
	if err != nil {
		return nil, err
	}
	out := jsonPost(m.apiURL+"/api/v4/posts", []byte(body))
	out.header.Set("Authorization", "Bearer "+m.token)
	out.insecure = m.insecure
	return []outbound{out}, nil
}
