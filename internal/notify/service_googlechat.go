package notify

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"sigs.k8s.io/yaml"
)

// googleChatService posts to Google Chat incoming webhooks, one per
// recipient (a space's webhook name), as Argo CD's googlechat service
// does.
type googleChatService struct {
	key  string
	urls map[string]string // recipient → webhook URL
}

// parseGoogleChat reads `service.googlechat`: webhooks (name: url). The
// URLs carry their key and token: they are secrets.
func parseGoogleChat(p *parser, key, _, value string) (service, error) {
	var s struct {
		Webhooks map[string]string `json:"webhooks"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	urls, err := p.recipientURLs(key, "webhooks", s.Webhooks)
	if err != nil {
		return nil, err
	}
	return &googleChatService{key: key, urls: urls}, nil
}

// googleChatTemplate is a template's googlechat section, as Argo CD writes
// it: cardsV2 (and the deprecated cards) are YAML or JSON text, a list of
// cards; threadKey puts the message in a thread.
type googleChatTemplate struct {
	Cards     string `json:"cards"`
	CardsV2   string `json:"cardsV2"`
	ThreadKey string `json:"threadKey"`
}

// googleChatMessage is the webhook's body.
type googleChatMessage struct {
	Text    string               `json:"text,omitempty"`
	Cards   []map[string]any     `json:"cards,omitempty"`
	CardsV2 []googleChatCardWith `json:"cardsV2,omitempty"`
}

// googleChatCardWith is a cardsV2 entry: a card and its id in the message.
type googleChatCardWith struct {
	CardID string         `json:"cardId"`
	Card   map[string]any `json:"card"`
}

func (s *googleChatService) requests(n Notification) ([]outbound, error) {
	raw, err := recipientValue(s.key, "webhooks", s.urls, n.Destination.Recipient)
	if err != nil {
		return nil, err
	}
	var t googleChatTemplate
	if _, err := n.Section("googlechat", &t); err != nil {
		return nil, err
	}
	var msg googleChatMessage
	if strings.TrimSpace(t.CardsV2) != "" || strings.TrimSpace(t.Cards) != "" {
		cards, err := googleChatCards(n.Template, "cardsV2", t.CardsV2)
		if err != nil {
			return nil, err
		}
		for _, c := range cards {
			msg.CardsV2 = append(msg.CardsV2, googleChatCardWith{CardID: newCardID(), Card: c})
		}
		if msg.Cards, err = googleChatCards(n.Template, "cards", t.Cards); err != nil {
			return nil, err
		}
	} else {
		msg.Text = n.Message
	}
	if strings.TrimSpace(msg.Text) == "" && len(msg.Cards) == 0 && len(msg.CardsV2) == 0 {
		return nil, nil
	}
	body, err := toJSON(msg)
	if err != nil {
		return nil, err
	}
	u := raw
	if t.ThreadKey != "" {
		// As Argo CD: reply in the thread of the key, else start it.
		parsed, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: a webhook URL does not parse", s.key)
		}
		q := parsed.Query()
		q.Add("threadKey", t.ThreadKey)
		q.Add("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
		parsed.RawQuery = q.Encode()
		u = parsed.String()
	}
	out := jsonPost(u, []byte(body))
	out.reply = googleChatReply
	return []outbound{out}, nil
}

// googleChatCards parses the template's field: YAML or JSON text, a list
// of cards; empty text is none.
func googleChatCards(template, field, text string) ([]map[string]any, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var cards []map[string]any
	if err := yaml.Unmarshal([]byte(text), &cards); err != nil {
		return nil, fmt.Errorf("template %s: googlechat.%s is not a YAML or JSON list of cards: %w", template, field, err)
	}
	for i, c := range cards {
		if c == nil {
			return nil, fmt.Errorf("template %s: googlechat.%s[%d] is not a card (an object)", template, field, i)
		}
	}
	return cards, nil
}

// newCardID is a random (version 4) UUID, as Argo CD identifies cards.
func newCardID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// googleChatReply reads the webhook's answer, as Argo CD does: an error
// object in it fails the delivery.
func googleChatReply(body []byte) (*outbound, error) {
	if strings.TrimSpace(string(body)) == "" {
		return nil, nil
	}
	var r struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("google chat answered with no JSON: %q", snippetOf(body))
	}
	if e := r.Error; e != nil {
		return nil, fmt.Errorf("google chat: code=%d status=%s message=%s", e.Code, e.Status, e.Message)
	}
	return nil, nil
}
