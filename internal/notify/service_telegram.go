package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Telegram (`service.telegram: token: $telegram-token`), as Argo CD's
// notifications engine sends it: the message, in Markdown, through the Bot
// API's sendMessage to the recipient chat.

const defaultTelegramAPI = "https://api.telegram.org"

type telegramService struct {
	apiURL string
	token  string // in the URL's path: registered sensitive
}

func parseTelegram(p *parser, key, _, value string) (service, error) {
	var s struct {
		Token string `json:"token"`
		// APIURL is Ferry's: the engine's Telegram library has the host
		// fixed (https://api.telegram.org); this points the service at a
		// proxy, a self-hosted Bot API server or a test server.
		APIURL string `json:"apiURL"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.Token, &s.APIURL); err != nil {
		return nil, err
	}
	if s.Token == "" {
		return nil, fmt.Errorf("%s: token is required", key)
	}
	// The token is in every request's path: errors show the URL's host
	// only, and replies echoing the path have it redacted.
	p.sensitive(s.Token, url.PathEscape(s.Token))
	api := firstNonEmpty(s.APIURL, defaultTelegramAPI)
	if _, err := p.checkURL(key, "apiURL", api); err != nil {
		return nil, err
	}
	return &telegramService{apiURL: strings.TrimRight(api, "/"), token: s.Token}, nil
}

// telegramMessage is sendMessage's body.
type telegramMessage struct {
	ChatID          any    `json:"chat_id"` // an integer, or "@channelusername"
	MessageThreadID int    `json:"message_thread_id,omitempty"`
	Text            string `json:"text"`
	ParseMode       string `json:"parse_mode"`
}

var telegramChatID = regexp.MustCompile(`^-?[0-9]+$`)

// telegramChat reads a recipient as the engine does: "-1001234567890" is a
// chat ID, optionally followed by "|<message thread ID>"; anything else is
// a public channel's username (without its "@"). Ferry also reads a
// positive number as a chat ID (a user's chat: usernames start with a
// letter), and accepts an "@" before a username.
func telegramChat(recipient string) (chat any, thread int, err error) {
	id, threadID, hasThread := strings.Cut(recipient, "|")
	if !telegramChatID.MatchString(id) {
		if strings.HasPrefix(recipient, "-") {
			return nil, 0, fmt.Errorf("telegram: recipient %q: the chat ID is not a number", recipient)
		}
		return "@" + strings.TrimPrefix(recipient, "@"), 0, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("telegram: recipient %q: the chat ID is out of range", recipient)
	}
	if hasThread {
		if thread, err = strconv.Atoi(threadID); err != nil {
			return nil, 0, fmt.Errorf("telegram: recipient %q: the thread ID is not a number", recipient)
		}
	}
	return n, thread, nil
}

func (s *telegramService) requests(n Notification) ([]outbound, error) {
	if strings.TrimSpace(n.Message) == "" {
		return nil, nil
	}
	if n.Destination.Recipient == "" {
		return nil, errors.New("telegram: no chat (subscribe with telegram:<chat ID or channel username>)")
	}
	chat, thread, err := telegramChat(n.Destination.Recipient)
	if err != nil {
		return nil, err
	}
	body, err := toJSON(telegramMessage{ChatID: chat, MessageThreadID: thread, Text: n.Message, ParseMode: "Markdown"})
	if err != nil {
		return nil, err
	}
	out := jsonPost(s.apiURL+"/bot"+url.PathEscape(s.token)+"/sendMessage", []byte(body))
	out.reply = func(body []byte) (*outbound, error) {
		var r struct {
			OK          bool   `json:"ok"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("telegram: unreadable reply: %s", snippetOf(body))
		}
		if !r.OK {
			return nil, fmt.Errorf("telegram: %s", firstNonEmpty(r.Description, "the reply is not ok"))
		}
		return nil, nil
	}
	return []outbound{out}, nil
}
