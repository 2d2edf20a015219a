package notify

import (
	"fmt"
	"strings"
)

// defaultPagerDuty is PagerDuty's Events API v2 endpoint.
const defaultPagerDuty = "https://events.pagerduty.com/v2/enqueue"

// pagerdutyV2Service triggers PagerDuty events with the Events API v2, as
// Argo CD's pagerdutyv2 service does: the recipient names the routing
// (integration) key of serviceKeys.
type pagerdutyV2Service struct {
	key  string
	url  string
	keys map[string]string // recipient → routing key
}

// parsePagerDutyV2 reads `service.pagerdutyv2`: Argo CD's serviceKeys
// (name: routing key), and Ferry's url, the endpoint events are posted to
// (default https://events.pagerduty.com/v2/enqueue). Argo CD's PagerDuty
// library has that endpoint fixed; url lets a proxy, or a test receiver,
// take the events.
func parsePagerDutyV2(p *parser, key, _, value string) (service, error) {
	var s struct {
		ServiceKeys map[string]string `json:"serviceKeys"`
		URL         string            `json:"url"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if len(s.ServiceKeys) == 0 {
		return nil, fmt.Errorf("%s: serviceKeys is required (name: routing key)", key)
	}
	if err := p.expandAll(key, &s.URL); err != nil {
		return nil, err
	}
	s.URL = firstNonEmpty(s.URL, defaultPagerDuty)
	if _, err := p.checkURL(key, "url", s.URL); err != nil {
		return nil, err
	}
	keys, err := p.secretMap(key, "serviceKeys", s.ServiceKeys)
	if err != nil {
		return nil, err
	}
	return &pagerdutyV2Service{key: key, url: s.URL, keys: keys}, nil
}

// pagerdutyV2Template is a template's pagerdutyv2 section: the event's
// payload, and url, its client_url ("View in ..." link).
type pagerdutyV2Template struct {
	Summary   string `json:"summary"`
	Severity  string `json:"severity"`
	Source    string `json:"source"`
	Component string `json:"component"`
	Group     string `json:"group"`
	Class     string `json:"class"`
	URL       string `json:"url"`
}

// pagerdutyV2Event is an Events API v2 event.
type pagerdutyV2Event struct {
	RoutingKey  string             `json:"routing_key"`
	EventAction string             `json:"event_action"`
	Client      string             `json:"client,omitempty"`
	ClientURL   string             `json:"client_url,omitempty"`
	Payload     pagerdutyV2Payload `json:"payload"`
}

type pagerdutyV2Payload struct {
	Summary   string `json:"summary"`
	Source    string `json:"source"`
	Severity  string `json:"severity"`
	Component string `json:"component,omitempty"`
	Group     string `json:"group,omitempty"`
	Class     string `json:"class,omitempty"`
}

var pagerdutySeverities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

func (s *pagerdutyV2Service) requests(n Notification) ([]outbound, error) {
	routingKey, err := recipientValue(s.key, "serviceKeys", s.keys, n.Destination.Recipient)
	if err != nil {
		return nil, err
	}
	var t pagerdutyV2Template
	ok, err := n.Section("pagerdutyv2", &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil // a template for other services (the catalog's): nothing for PagerDuty
	}
	for _, f := range []struct{ name, value string }{{"summary", t.Summary}, {"severity", t.Severity}, {"source", t.Source}} {
		if strings.TrimSpace(f.value) == "" {
			return nil, fmt.Errorf("template %s: pagerdutyv2.%s is required", n.Template, f.name)
		}
	}
	if !pagerdutySeverities[t.Severity] {
		return nil, fmt.Errorf("template %s: pagerdutyv2.severity %q is not critical, error, warning or info", n.Template, t.Severity)
	}
	body, err := toJSON(pagerdutyV2Event{
		RoutingKey: routingKey, EventAction: "trigger", Client: "Ferry", ClientURL: t.URL,
		Payload: pagerdutyV2Payload{Summary: t.Summary, Source: t.Source, Severity: t.Severity,
			Component: t.Component, Group: t.Group, Class: t.Class},
	})
	if err != nil {
		return nil, err
	}
	return []outbound{jsonPost(s.url, []byte(body))}, nil
}
