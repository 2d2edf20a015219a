package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// teamsService posts to Microsoft Teams incoming webhooks, one per
// recipient (a channel's name), as Argo CD's teams service does.
type teamsService struct {
	key  string
	urls map[string]string // recipient → webhook URL
}

func parseTeams(p *parser, key, _, value string) (service, error) {
	var s struct {
		RecipientURLs map[string]string `json:"recipientUrls"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	urls, err := p.recipientURLs(key, "recipientUrls", s.RecipientURLs)
	if err != nil {
		return nil, err
	}
	return &teamsService{key: key, urls: urls}, nil
}

// recipientURLs reads a map of recipient names to webhook URLs (field of
// key): each URL is expanded, checked and, with its path, secret.
func (p *parser) recipientURLs(key, field string, m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: %s is required (name: url)", key, field)
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		raw := m[name]
		if err := p.expandAll(key, &raw); err != nil {
			return nil, err
		}
		u, err := p.checkURL(key, field+"."+name, raw)
		if err != nil {
			return nil, err
		}
		p.sensitive(raw, strings.TrimPrefix(u.Path, "/")) // the path holds the webhook's secret
		out[name] = raw
	}
	return out, nil
}

// secretMap expands and checks a map of recipient name → secret (API keys,
// routing keys): each value non-empty and redacted from errors.
func (p *parser) secretMap(key, field string, m map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v := m[name]
		if err := p.expandAll(key, &v); err != nil {
			return nil, err
		}
		if v == "" {
			return nil, fmt.Errorf("%s: %s.%s is empty", key, field, name)
		}
		p.sensitive(v)
		out[name] = v
	}
	return out, nil
}

// recipientValue is m's value for recipient; errors say where to add it.
func recipientValue(key, field string, m map[string]string, recipient string) (string, error) {
	names := strings.Join(slices.Sorted(maps.Keys(m)), ", ")
	if recipient == "" {
		return "", fmt.Errorf("no recipient: subscribe with a name of %s's %s (%s)", key, field, names)
	}
	v, ok := m[recipient]
	if !ok {
		return "", fmt.Errorf("recipient %q is not in %s's %s (%s)", recipient, key, field, names)
	}
	return v, nil
}

// teamsTemplate is a template's teams section, as Argo CD writes it:
// facts, sections and potentialAction are JSON text; template is a whole
// card, sent as it is.
type teamsTemplate struct {
	Template        string `json:"template"`
	Title           string `json:"title"`
	Summary         string `json:"summary"`
	Text            string `json:"text"`
	ThemeColor      string `json:"themeColor"`
	Facts           string `json:"facts"`
	Sections        string `json:"sections"`
	PotentialAction string `json:"potentialAction"`
}

// teamsCard is an Office 365 connector MessageCard.
type teamsCard struct {
	Type            string            `json:"@type"`
	Context         string            `json:"@context"`
	Title           string            `json:"title,omitempty"`
	Summary         string            `json:"summary,omitempty"`
	Text            string            `json:"text,omitempty"`
	ThemeColor      string            `json:"themeColor,omitempty"`
	PotentialAction []json.RawMessage `json:"potentialAction,omitempty"`
	Sections        []json.RawMessage `json:"sections,omitempty"`
}

func (s *teamsService) requests(n Notification) ([]outbound, error) {
	u, err := recipientValue(s.key, "recipientUrls", s.urls, n.Destination.Recipient)
	if err != nil {
		return nil, err
	}
	body, err := teamsBody(n)
	if body == nil || err != nil {
		return nil, err
	}
	out := jsonPost(u, body)
	out.reply = teamsReply
	return []outbound{out}, nil
}

// teamsBody is the card to post: the template's own, else a MessageCard;
// nil when there is nothing to say.
func teamsBody(n Notification) ([]byte, error) {
	var t teamsTemplate
	if _, err := n.Section("teams", &t); err != nil {
		return nil, err
	}
	if strings.TrimSpace(t.Template) != "" {
		if !json.Valid([]byte(t.Template)) {
			return nil, fmt.Errorf("template %s: teams.template is not valid JSON", n.Template)
		}
		return []byte(t.Template), nil
	}
	card := teamsCard{Type: "MessageCard", Context: "https://schema.org/extensions",
		Title: t.Title, Summary: t.Summary, Text: firstNonEmpty(t.Text, n.Message), ThemeColor: t.ThemeColor}
	var err error
	if card.Sections, err = jsonObjects(n.Template, "teams.sections", t.Sections); err != nil {
		return nil, err
	}
	if strings.TrimSpace(t.Facts) != "" {
		// Argo CD adds facts as one more section.
		facts, err := jsonObjects(n.Template, "teams.facts", t.Facts)
		if err != nil {
			return nil, err
		}
		sec, err := json.Marshal(map[string]any{"facts": facts})
		if err != nil {
			return nil, err
		}
		card.Sections = append(card.Sections, sec)
	}
	if card.PotentialAction, err = jsonObjects(n.Template, "teams.potentialAction", t.PotentialAction); err != nil {
		return nil, err
	}
	if strings.TrimSpace(card.Text) == "" && card.Title == "" && card.Summary == "" && len(card.Sections) == 0 {
		return nil, nil
	}
	body, err := toJSON(card)
	return []byte(body), err
}

// jsonObjects parses text (field of the template) as a JSON array of
// objects, keeping each as written; empty text is none.
func jsonObjects(template, field, text string) ([]json.RawMessage, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(text), &items); err != nil {
		return nil, fmt.Errorf("template %s: %s is not a JSON array: %w", template, field, err)
	}
	for i, it := range items {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(it, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("template %s: %s[%d] is not a JSON object", template, field, i)
		}
	}
	return items, nil
}

// teamsReply checks a connector's answer: "1" is success; a Workflows
// webhook answers nothing. A connector reports some failures (throttling)
// with a 200 and their text.
func teamsReply(body []byte) (*outbound, error) {
	if b := strings.TrimSpace(string(body)); b != "" && b != "1" {
		return nil, fmt.Errorf("teams webhook answered %q, not 1", snippetOf(body))
	}
	return nil, nil
}
