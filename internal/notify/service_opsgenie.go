package notify

import (
	"fmt"
	"regexp"
	"strings"
)

// defaultOpsgenie is Opsgenie's (US) API; Europe's is api.eu.opsgenie.com.
const defaultOpsgenie = "https://api.opsgenie.com"

// opsgenieService creates Opsgenie alerts (POST /v2/alerts), as Argo CD's
// opsgenie service does: the recipient is a team, whose API key
// (apiKeys) creates the alert.
type opsgenieService struct {
	key     string
	baseURL string
	keys    map[string]string // team → API key
}

// parseOpsgenie reads `service.opsgenie`: apiUrl and apiKeys (team: key).
// Argo CD's apiUrl is a host (api.opsgenie.com, api.eu.opsgenie.com),
// reached over https; a full http(s) URL is taken as it is (a proxy).
func parseOpsgenie(p *parser, key, _, value string) (service, error) {
	var s struct {
		APIURL  string            `json:"apiUrl"`
		APIKeys map[string]string `json:"apiKeys"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if len(s.APIKeys) == 0 {
		return nil, fmt.Errorf("%s: apiKeys is required (team: API key)", key)
	}
	if err := p.expandAll(key, &s.APIURL); err != nil {
		return nil, err
	}
	base := strings.TrimSpace(firstNonEmpty(s.APIURL, defaultOpsgenie))
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	if _, err := p.checkURL(key, "apiUrl", base); err != nil {
		return nil, err
	}
	keys, err := p.secretMap(key, "apiKeys", s.APIKeys)
	if err != nil {
		return nil, err
	}
	return &opsgenieService{key: key, baseURL: strings.TrimRight(base, "/"), keys: keys}, nil
}

// opsgenieResponder is a team, user, escalation or schedule, by id, name
// or username. Argo CD's templates write the keys capitalized (Id, Type);
// decoding ignores case.
type opsgenieResponder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// opsgenieTemplate is a template's opsgenie section.
type opsgenieTemplate struct {
	Description string              `json:"description"`
	Priority    string              `json:"priority"`
	Alias       string              `json:"alias"`
	Note        string              `json:"note"`
	Actions     []string            `json:"actions"`
	Tags        []string            `json:"tags"`
	Details     map[string]string   `json:"details"`
	Entity      string              `json:"entity"`
	VisibleTo   []opsgenieResponder `json:"visibleTo"`
	User        string              `json:"user"`
}

// opsgenieAlert is the Alert API's create request.
type opsgenieAlert struct {
	Message     string              `json:"message"`
	Alias       string              `json:"alias,omitempty"`
	Description string              `json:"description,omitempty"`
	Responders  []opsgenieResponder `json:"responders,omitempty"`
	VisibleTo   []opsgenieResponder `json:"visibleTo,omitempty"`
	Actions     []string            `json:"actions,omitempty"`
	Tags        []string            `json:"tags,omitempty"`
	Details     map[string]string   `json:"details,omitempty"`
	Entity      string              `json:"entity,omitempty"`
	Source      string              `json:"source,omitempty"`
	Priority    string              `json:"priority,omitempty"`
	User        string              `json:"user,omitempty"`
	Note        string              `json:"note,omitempty"`
}

var opsgenieID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *opsgenieService) requests(n Notification) ([]outbound, error) {
	team := n.Destination.Recipient
	apiKey, err := recipientValue(s.key, "apiKeys", s.keys, team)
	if err != nil {
		return nil, err
	}
	var t opsgenieTemplate
	ok, err := n.Section("opsgenie", &t)
	if err != nil {
		return nil, err
	}
	if ok && t.Description == "" {
		return nil, fmt.Errorf("template %s: opsgenie.description is required", n.Template)
	}
	if strings.TrimSpace(n.Message) == "" {
		return nil, nil // nothing to alert about
	}
	// The recipient team is the alert's responder (with a team's API
	// key, Opsgenie makes that team the responder anyway).
	responder := opsgenieResponder{Type: "team", Name: team}
	if opsgenieID.MatchString(team) {
		responder = opsgenieResponder{Type: "team", ID: team}
	}
	body, err := toJSON(opsgenieAlert{
		Message: n.Message, Alias: t.Alias, Description: t.Description,
		Responders: []opsgenieResponder{responder}, VisibleTo: t.VisibleTo,
		Actions: t.Actions, Tags: t.Tags, Details: t.Details, Entity: t.Entity,
		Source: "Ferry", Priority: t.Priority, User: t.User, Note: t.Note,
	})
	if err != nil {
		return nil, err
	}
	out := jsonPost(s.baseURL+"/v2/alerts", []byte(body))
	out.header.Set("Authorization", "GenieKey "+apiKey)
	out.header.Set("Accept", "application/json")
	return []outbound{out}, nil
}
