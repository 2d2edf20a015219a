package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Slack with a bot token (Argo CD's `service.slack: token: ...`): messages
// go to chat.postMessage, threaded by the template's slack.groupingKey as
// Argo CD's notifications engine (pkg/util/slack) threads them.

const defaultSlackAPI = "https://slack.com/api/"

// slackBotSpec is the token form of `service.slack`, with the engine's
// option names.
type slackBotSpec struct {
	Token              string   `json:"token"`
	Username           string   `json:"username"`
	Icon               string   `json:"icon"`
	APIURL             string   `json:"apiURL"`
	Channels           []string `json:"channels"`      // used by Argo CD's bot, not to send; accepted
	SigningSecret      string   `json:"signingSecret"` // for Argo CD's bot; ignored
	InsecureSkipVerify bool     `json:"insecureSkipVerify"`
	DisableUnfurl      bool     `json:"disableUnfurl"`
}

// slackBotService posts with a bot token. It remembers, per channel and
// grouping key, the timestamp of the thread's first message, in memory as
// the engine does: a restart, or a change to the notifications ConfigMap
// or Secret (which builds the services anew), starts new threads.
type slackBotService struct {
	apiURL        string // ends with "/"
	token         string
	username      string
	icon          string
	insecure      bool
	disableUnfurl bool

	mu       sync.Mutex
	threads  map[slackThread]string // → the thread's first message's ts
	channels map[string]string      // recipient → the channel ID Slack answered
}

type slackThread struct{ channel, groupingKey string }

func parseSlackBot(p *parser, key, _, value string) (service, error) {
	var s slackBotSpec
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	// signingSecret is for Argo CD's bot: ignored, redacted if it resolves.
	if v, err := p.expand(key, s.SigningSecret); err == nil {
		p.sensitive(v)
	}
	if err := p.expandAll(key, &s.Token, &s.APIURL, &s.Username, &s.Icon); err != nil {
		return nil, err
	}
	if s.Token == "" {
		return nil, fmt.Errorf("%s: token is required", key)
	}
	p.sensitive(s.Token)
	api := firstNonEmpty(s.APIURL, defaultSlackAPI)
	if _, err := p.checkURL(key, "apiURL", api); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(api, "/") { // the engine's client appends the method to apiURL
		api += "/"
	}
	if s.Icon != "" && slackIcon(s.Icon) == (slackIconField{}) {
		p.warnf("%s: icon %q is neither an :emoji: nor an http(s) URL; ignored", key, s.Icon)
	}
	return &slackBotService{apiURL: api, token: s.Token, username: s.Username, icon: s.Icon,
		insecure: s.InsecureSkipVerify, disableUnfurl: s.DisableUnfurl,
		threads: map[slackThread]string{}, channels: map[string]string{}}, nil
}

var slackEmoji = regexp.MustCompile(`^:.+:$`)

type slackIconField struct{ emoji, url string }

// slackIcon is icon as Slack takes it: an :emoji: or an http(s) URL; zero
// for anything else (the engine ignores it too).
func slackIcon(icon string) slackIconField {
	if slackEmoji.MatchString(icon) {
		return slackIconField{emoji: icon}
	}
	if _, err := url.ParseRequestURI(icon); err == nil {
		if u, err := url.Parse(icon); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return slackIconField{url: icon}
		}
	}
	return slackIconField{}
}

// slackUpdate is chat.update's body.
type slackUpdate struct {
	Channel     string          `json:"channel"`
	TS          string          `json:"ts"`
	Text        string          `json:"text"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Blocks      json.RawMessage `json:"blocks,omitempty"`
	AsUser      bool            `json:"as_user"`
}

// slackReply is what Slack's Web API answers (with status 200 even for
// failures).
type slackReply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

func (s *slackBotService) requests(n Notification) ([]outbound, error) {
	msg, t, ok, err := slackMessageOf(n)
	if !ok || err != nil {
		return nil, err
	}
	recipient := n.Destination.Recipient
	if recipient == "" {
		return nil, errors.New("slack: no channel (subscribe with slack:<channel>)")
	}
	// username and icon: the template's, else the service's.
	var who struct {
		Username string `json:"username"`
		Icon     string `json:"icon"`
	}
	if _, err := n.Section("slack", &who); err != nil {
		return nil, err
	}
	msg.Username = firstNonEmpty(who.Username, s.username)
	icon := slackIcon(firstNonEmpty(who.Icon, s.icon))
	msg.IconEmoji, msg.IconURL = icon.emoji, icon.url
	if s.disableUnfurl {
		no := false
		msg.UnfurlLinks, msg.UnfurlMedia = &no, &no
	}
	policy := t.DeliveryPolicy
	switch policy {
	case "", "Post", "PostAndUpdate", "Update":
	default:
		policy = "Post" // the engine's reading of an unknown policy
	}

	thread := slackThread{recipient, t.GroupingKey}
	s.mu.Lock()
	ts := ""
	if t.GroupingKey != "" {
		ts = s.threads[thread]
	}
	channelID := firstNonEmpty(s.channels[recipient], recipient)
	s.mu.Unlock()

	var outs []outbound
	if ts == "" || policy != "Update" {
		post := msg
		if ts != "" {
			post.ThreadTS, post.ReplyBroadcast = ts, t.NotifyBroadcast
		}
		out, err := s.call("chat.postMessage", post)
		if err != nil {
			return nil, err
		}
		out.reply = func(body []byte) (*outbound, error) {
			r, err := slackResult(body)
			if err != nil {
				return nil, err
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if t.GroupingKey != "" && ts == "" && r.TS != "" {
				if _, started := s.threads[thread]; !started {
					s.threads[thread] = r.TS
				}
			}
			if r.Channel != "" {
				s.channels[recipient] = r.Channel
			}
			return nil, nil
		}
		outs = append(outs, out)
	}
	if ts != "" && (policy == "Update" || policy == "PostAndUpdate") {
		out, err := s.call("chat.update", slackUpdate{Channel: channelID, TS: ts, Text: msg.Text,
			Attachments: msg.Attachments, Blocks: msg.Blocks, AsUser: true})
		if err != nil {
			return nil, err
		}
		out.reply = func(body []byte) (*outbound, error) {
			_, err := slackResult(body)
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// call is a Web API method's request with body as JSON.
func (s *slackBotService) call(method string, body any) (outbound, error) {
	b, err := toJSON(body)
	if err != nil {
		return outbound{}, err
	}
	out := jsonPost(s.apiURL+method, []byte(b))
	out.header.Set("Content-Type", "application/json; charset=utf-8")
	out.header.Set("Authorization", "Bearer "+s.token)
	out.insecure = s.insecure
	return out, nil
}

// slackResult reads a Web API reply: {"ok": false, "error": "..."} is an
// error.
func slackResult(body []byte) (slackReply, error) {
	var r slackReply
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("slack: unreadable reply: %s", snippetOf(body))
	}
	if !r.OK {
		return r, fmt.Errorf("slack: %s", firstNonEmpty(r.Error, "the reply is not ok"))
	}
	return r, nil
}
