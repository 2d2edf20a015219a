package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SignatureHeader carries a webhook body's signature when the service has
// an hmacSecret: "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Ferry-Signature-256"

type webhookSpec struct {
	URL     string `json:"url"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Method             string `json:"method"`
	HMACSecret         string `json:"hmacSecret"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	BasicAuth          *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basicAuth"`
}

type header struct{ name, value string }

type webhookService struct {
	name       string
	url        string
	method     string
	headers    []header
	hmacSecret []byte
	basicAuth  string // "Basic ..." or empty
	insecure   bool
}

func parseWebhook(p *parser, key, name, value string) (service, error) {
	var s webhookSpec
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.URL, &s.HMACSecret); err != nil {
		return nil, err
	}
	u, err := p.checkURL(key, "url", s.URL)
	if err != nil {
		return nil, err
	}
	// A webhook's path may be its token (chat services' incoming hooks),
	// and so may its user name or a header's value: none is told.
	if path := strings.Trim(u.Path, "/"); path != "" {
		p.sensitive(path)
	}
	p.sensitive(u.User.Username())
	w := &webhookService{name: name, url: s.URL, method: http.MethodPost,
		hmacSecret: []byte(s.HMACSecret), insecure: s.InsecureSkipVerify}
	if s.Method != "" {
		m, err := checkMethod(key, s.Method)
		if err != nil {
			return nil, err
		}
		w.method = m
	}
	if err := p.webhookAuth(key, s, w); err != nil {
		return nil, err
	}
	p.sensitive(s.HMACSecret)
	return w, nil
}

// webhookAuth sets w's headers and basic authentication from s.
func (p *parser) webhookAuth(key string, s webhookSpec, w *webhookService) error {
	for i, h := range s.Headers {
		if h.Name == "" {
			return fmt.Errorf("%s: header %d has no name", key, i)
		}
		if err := p.expandAll(key, &h.Value); err != nil {
			return err
		}
		w.headers = append(w.headers, header{name: h.Name, value: h.Value})
		p.sensitive(h.Value)
	}
	if a := s.BasicAuth; a != nil {
		if err := p.expandAll(key, &a.Username, &a.Password); err != nil {
			return err
		}
		creds := base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))
		w.basicAuth = "Basic " + creds
		p.sensitive(a.Password, creds)
	}
	return nil
}

// webhookTemplate is a template's webhook.<name> section.
type webhookTemplate struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

func (w *webhookService) requests(n Notification) ([]outbound, error) {
	var hooks map[string]webhookTemplate
	if _, err := n.Section("webhook", &hooks); err != nil {
		return nil, err
	}
	method, path := w.method, ""
	var body []byte
	if wt, ok := hooks[w.name]; ok {
		if wt.Method != "" {
			m, err := checkMethod(fmt.Sprintf("template.%s.webhook.%s.method", n.Template, w.name), wt.Method)
			if err != nil {
				return nil, err
			}
			method = m
		}
		path, body = wt.Path, []byte(wt.Body)
	} else {
		var err error
		if body, err = defaultWebhookBody(n); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	if len(body) > 0 {
		h.Set("Content-Type", contentType(body))
	}
	setHeaders(h, w.headers)
	if w.basicAuth != "" {
		h.Set("Authorization", w.basicAuth)
	}
	if len(w.hmacSecret) > 0 {
		h.Set(SignatureHeader, sign(w.hmacSecret, body))
	}
	return []outbound{{method: method, url: joinPath(w.url, path), header: h, body: body, insecure: w.insecure}}, nil
}

// defaultWebhookBody is the JSON sent by a template without a webhook part
// for the service.
func defaultWebhookBody(n Notification) ([]byte, error) {
	meta, _ := n.app["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	b, err := toJSON(struct {
		Trigger     string `json:"trigger"`
		Application string `json:"application"`
		Namespace   string `json:"namespace,omitempty"`
		Revision    string `json:"revision,omitempty"`
		Message     string `json:"message"`
	}{n.Trigger, name, namespace, n.Revision, n.Message})
	return []byte(b), err
}

// joinPath appends path to u's path, before its query.
func joinPath(u, path string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + path + u[i:]
	}
	return u + path
}

// setHeaders sets the configured headers, replacing defaults of the same
// name and keeping repeated configured names.
func setHeaders(h http.Header, headers []header) {
	seen := map[string]bool{}
	for _, hd := range headers {
		k := http.CanonicalHeaderKey(hd.name)
		if !seen[k] {
			h.Del(k)
			seen[k] = true
		}
		h.Add(k, hd.value)
	}
}

func contentType(body []byte) string {
	if json.Valid(body) {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// sign is the SignatureHeader value for body.
func sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
