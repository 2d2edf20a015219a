package notify

import (
	"path"
	"strings"
	"time"
)

// grafanaService creates Grafana annotations (POST <apiUrl>/annotations),
// as Argo CD's grafana service does: the text is the message, the tags
// the recipient's, separated by "|".
type grafanaService struct {
	url      string // the annotations endpoint
	apiKey   string
	insecure bool
}

// parseGrafana reads `service.grafana`: apiUrl (Grafana's API,
// https://grafana.example.com/api), apiKey (a service account token) and
// insecureSkipVerify.
func parseGrafana(p *parser, key, _, value string) (service, error) {
	var s struct {
		APIURL             string `json:"apiUrl"`
		APIKey             string `json:"apiKey"`
		InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.APIURL, &s.APIKey); err != nil {
		return nil, err
	}
	u, err := p.checkURL(key, "apiUrl", s.APIURL)
	if err != nil {
		return nil, err
	}
	p.sensitive(s.APIKey)
	endpoint := *u
	endpoint.Path = path.Join("/", u.Path, "annotations")
	endpoint.RawPath = ""
	return &grafanaService{url: endpoint.String(), apiKey: s.APIKey, insecure: s.InsecureSkipVerify}, nil
}

// grafanaAnnotation is the annotations API's body.
type grafanaAnnotation struct {
	Time     int64    `json:"time"` // Unix milliseconds
	IsRegion bool     `json:"isRegion"`
	Tags     []string `json:"tags"`
	Text     string   `json:"text"`
}

func (g *grafanaService) requests(n Notification) ([]outbound, error) {
	if strings.TrimSpace(n.Message) == "" {
		return nil, nil // nothing to annotate
	}
	tags := []string{}
	for _, t := range strings.Split(n.Destination.Recipient, "|") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	body, err := toJSON(grafanaAnnotation{Time: time.Now().UnixMilli(), Tags: tags, Text: n.Message})
	if err != nil {
		return nil, err
	}
	out := jsonPost(g.url, []byte(body))
	if g.apiKey != "" {
		out.header.Set("Authorization", "Bearer "+g.apiKey)
	}
	out.insecure = g.insecure
	return []outbound{out}, nil
}
