package notify

import (
	"strings"
	"testing"
	"time"
)

const grafanaKey = "glsa_S3cr3tServiceAccountToken_0123abcd"

func grafanaConfig(t *testing.T, base string) *Config {
	t.Helper()
	// Argo CD's docs/services/grafana.md configuration and template.
	return mustParse(t, map[string]string{
		"service.grafana":       "apiUrl: " + base + "/api\napiKey: $grafana-api-key\n",
		"template.app-deployed": "message: Application {{.app.metadata.name}} is now running new version of deployments manifests.\n",
	}, map[string][]byte{"grafana-api-key": []byte(grafanaKey)})
}

func TestSendGrafana(t *testing.T) {
	r, base := serve(t)
	r.reply = `{"message":"Annotation added","id":1}`
	c := grafanaConfig(t, base)
	before := time.Now().UnixMilli()
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "grafana", Recipient: "tag1|tag2"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	got := only(t, r)
	if got.method != "POST" || got.uri != "/api/annotations" {
		t.Errorf("request %s %s, want POST /api/annotations", got.method, got.uri)
	}
	if a := got.header.Get("Authorization"); a != "Bearer "+grafanaKey {
		t.Errorf("Authorization = %q", a)
	}
	body := decodeJSONBody(t, got)
	checkFields(t, body, map[string]any{
		"isRegion": false,
		"tags":     []string{"tag1", "tag2"},
		"text":     "Application guestbook is now running new version of deployments manifests.",
	})
	if ms, ok := body["time"].(float64); !ok || int64(ms) < before || int64(ms) > after {
		t.Errorf("time = %v, want Unix milliseconds in [%d, %d]", body["time"], before, after)
	}
	if len(body) != 4 {
		t.Errorf("body has other fields: %s", got.body)
	}
}

func TestParseGrafana(t *testing.T) {
	for _, tt := range []struct{ value, url string }{
		{"apiUrl: https://grafana.example.com/api\napiKey: literal-grafana-key", "https://grafana.example.com/api/annotations"},
		{"apiUrl: https://grafana.example.com/api/\napiKey: k\ninsecureSkipVerify: true", "https://grafana.example.com/api/annotations"},
		{"apiURL: https://grafana.example.com", "https://grafana.example.com/annotations"}, // the docs' other spelling
	} {
		c := mustParse(t, map[string]string{"service.grafana": tt.value}, nil)
		g := c.services["grafana"].(*grafanaService)
		if g.url != tt.url || g.insecure != strings.Contains(tt.value, "insecureSkipVerify: true") {
			t.Errorf("%q: %+v, want url %s", tt.value, g, tt.url)
		}
		if got := c.redact("literal-grafana-key"); strings.Contains(tt.value, "literal") && got != "***" {
			t.Errorf("a key written in the ConfigMap is not redacted: %q", got)
		}
	}
	if _, err := Parse(map[string]string{"service.grafana": "apiKey: k"}, nil); err == nil ||
		!strings.Contains(err.Error(), "service.grafana: apiUrl is required") {
		t.Errorf("no apiUrl: %v", err)
	}
}

func TestSendGrafanaFailures(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		message string
		want    []string
	}{
		{"unauthorized", 401, "", []string{"notify grafana (template app-deployed)", "401", "invalid API key"}},
		{"server error", 500, "", []string{"notify grafana (template app-deployed)", "after 3 attempts", "500"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, base := serve(t, tt.status, tt.status, tt.status)
			r.reply = `{"message":"invalid API key ` + grafanaKey + `"}`
			c := grafanaConfig(t, base)
			if tt.message != "" {
				c = mustParse(t, map[string]string{
					"service.grafana":       "apiUrl: " + base + "/api\napiKey: $grafana-api-key\n",
					"template.app-deployed": tt.message,
				}, map[string][]byte{"grafana-api-key": []byte(grafanaKey)})
			}
			err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "grafana", Recipient: "argocd"})
			failsSafely(t, err, tt.want, grafanaKey)
		})
	}
}
