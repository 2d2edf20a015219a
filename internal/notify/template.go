package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/redact"
)

// Notification is a template rendered for one destination.
type Notification struct {
	Destination Destination
	Trigger     string
	// Template is the name of the template rendered.
	Template string
	// Message is the template's rendered message.
	Message string
	// Fields is the whole template document rendered: every string in it
	// executed (message, slack.attachments, teams.title, webhook.<name>.body,
	// ...), as Argo CD's templates are. Services read their section.
	Fields map[string]any
	// Revision and RepoURL are the event's, for commit statuses.
	Revision, RepoURL string

	app map[string]any // the Application, for webhooks' default body
}

// Section decodes the rendered section name (e.g. "slack") into v; false
// when the template has none. As Argo CD's engine reads templates (YAML
// decoded against the target's types), a scalar written unquoted — `port:
// 8080`, `notifyBroadcast: true` — fills a string field as text and a bool
// field as a bool.
func (n Notification) Section(name string, v any) (bool, error) {
	sec, ok := n.Fields[name]
	if !ok || sec == nil {
		return false, nil
	}
	data, err := yaml.Marshal(sec)
	if err != nil {
		return false, err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("template %s: %s: %w", n.Template, name, err)
	}
	return true, nil
}

// messageTemplate is a compiled `template.<name>`: Argo CD's template
// document (message, and a section per service type) with every string
// compiled as a Go template.
type messageTemplate struct {
	root   any    // map[string]any, []any, *template.Template or another scalar
	source string // the YAML it was compiled from
}

func (p *parser) parseTemplate(key, value string) error {
	var doc map[string]any
	if err := unmarshal(key, value, &doc); err != nil {
		return err
	}
	if err := checkWebhookMethods(key, doc); err != nil {
		return err
	}
	t, err := compileTemplate(key, doc)
	if err != nil {
		return err
	}
	t.source = value
	p.cfg.templates[strings.TrimPrefix(key, "template.")] = t
	return nil
}

// checkWebhookMethods verifies the methods a template's webhook sections
// name, unless they are templates themselves.
func checkWebhookMethods(key string, doc map[string]any) error {
	hooks, _ := doc["webhook"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(hooks)) {
		h, _ := hooks[name].(map[string]any)
		if m, ok := h["method"].(string); ok && !strings.Contains(m, "{{") {
			if _, err := checkMethod(key+".webhook."+name+".method", m); err != nil {
				return err
			}
		}
	}
	return nil
}

// compileTemplate compiles doc; template names (and errors) start with key.
func compileTemplate(key string, doc map[string]any) (*messageTemplate, error) {
	root, err := compileNode(key, doc)
	if err != nil {
		return nil, err
	}
	return &messageTemplate{root: root}, nil
}

func compileNode(path string, node any) (any, error) {
	switch v := node.(type) {
	case string:
		t, err := newTemplate(path).Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			c, err := compileNode(path+"."+k, v[k])
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := compileNode(fmt.Sprintf("%s[%d]", path, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return node, nil
}

// render executes every template of the document with data.
func (t *messageTemplate) render(data any) (map[string]any, error) {
	out, err := renderNode(t.root, data)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	return m, nil
}

func renderNode(node, data any) (any, error) {
	switch v := node.(type) {
	case *template.Template:
		var b bytes.Buffer
		if err := v.Execute(&b, data); err != nil {
			return nil, err
		}
		return b.String(), nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := renderNode(e, data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renderNode(e, data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return node, nil
}

// templateFuncs are Argo CD's template functions (sprig's, without env and
// expandenv) with Ferry's toJson (no HTML escaping) and short.
var templateFuncs = func() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toJson"] = toJSON
	f["short"] = short
	return f
}()

// newTemplate is an empty template with Ferry's options and functions.
func newTemplate(name string) *template.Template {
	return template.New(name).Option("missingkey=zero").Funcs(templateFuncs)
}

// toJSON encodes v as JSON, without HTML escaping.
func toJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// short is the first 7 characters of v (a revision); nil is empty.
func short(v any) string {
	if v == nil {
		return ""
	}
	s := []rune(fmt.Sprint(v))
	if len(s) > 7 {
		s = s[:7]
	}
	return string(s)
}

// builtinMessages are the templates the built-in triggers send when the
// ConfigMap does not configure them; `template.<name>` overrides one.
var builtinMessages = map[string]string{
	"app-sync-failed":     "Application {{.app.metadata.name}} sync failed{{with .revision}} at {{short .}}{{end}}{{with .message}}: {{.}}{{end}}",
	"app-sync-succeeded":  "Application {{.app.metadata.name}} synced{{with .revision}} to {{short .}}{{end}}{{with .message}}: {{.}}{{end}}",
	"app-deployed":        "Application {{.app.metadata.name}} is deployed{{with .revision}} at {{short .}}{{end}} and healthy{{with .message}}: {{.}}{{end}}",
	"app-health-degraded": "Application {{.app.metadata.name}} is degraded{{with .revision}} at {{short .}}{{end}}{{with .message}}: {{.}}{{end}}",
	"app-drift-detected":  "Application {{.app.metadata.name}} drifted from Git{{with .context.manager}} (changed by {{.}}){{end}}{{with .message}}: {{.}}{{end}}",
	"app-out-of-sync":     "Application {{.app.metadata.name}} is out of sync{{with .revision}} with {{short .}}{{end}}{{with .message}}: {{.}}{{end}}",
	"app-created":         "Application {{.app.metadata.name}} has been created.",
	"app-deleted":         "Application {{.app.metadata.name}} has been deleted.",
	"app-sync-running":    "The sync operation of application {{.app.metadata.name}} has started{{with .app.status.operationState}} at {{.startedAt}}{{end}}.",
	// Argo CD's catalog message, as is: Argo CD users know it, and it lists
	// the conditions that say why.
	"app-sync-status-unknown": `{{if eq .serviceType "slack"}}:exclamation:{{end}} Application {{.app.metadata.name}} sync is 'Unknown'.
Application details: {{.context.argocdUrl}}/applications/{{.app.metadata.name}}.
{{if ne .serviceType "slack"}}
{{range $c := .app.status.conditions}}
    * {{$c.message}}
{{end}}
{{end}}
`,
}

var builtinTemplates = compileBuiltins()

func compileBuiltins() map[string]*messageTemplate {
	out := map[string]*messageTemplate{}
	for name, msg := range builtinMessages {
		doc := map[string]any{"message": msg}
		t, err := compileTemplate("template."+name, doc)
		if err != nil {
			panic(err)
		}
		src, _ := yaml.Marshal(doc)
		t.source = string(src)
		out[name] = t
	}
	return out
}

// template returns the named template: the ConfigMap's, else a built-in
// one, else nil.
func (c *Config) template(name string) *messageTemplate {
	if t, ok := c.templates[name]; ok {
		return t
	}
	return builtinTemplates[name]
}

// TemplateSource is a template's YAML (configured or built in).
func (c *Config) TemplateSource(name string) (string, bool) {
	t := c.template(name)
	if t == nil {
		return "", false
	}
	return t.source, true
}

// Templates lists the defined templates (configured and built in), sorted.
func (c *Config) Templates() []string {
	set := map[string]bool{}
	for n := range c.templates {
		set[n] = true
	}
	for n := range builtinTemplates {
		set[n] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Render renders the named templates for a destination (ev told for a
// trigger: see Event.For).
//
// Templates run with missingkey=zero: a missing key of a map[string]any
// (such as .app) prints "<no value>"; guard optional fields with {{with}}.
func (c *Config) Render(ev Event, templates []string, d Destination) ([]Notification, error) {
	data := c.vars(ev, d)
	var out []Notification
	for _, name := range templates {
		t := c.template(name)
		if t == nil {
			return nil, fmt.Errorf("template %q is not defined", name)
		}
		fields, err := t.render(data)
		if err != nil {
			return nil, fmt.Errorf("template.%s: %w", name, err)
		}
		redactFields(fields)
		msg, _ := fields["message"].(string)
		out = append(out, Notification{Destination: d, Trigger: ev.Trigger, Template: name, Message: msg,
			Fields: fields, Revision: ev.Revision, RepoURL: ev.RepoURL, app: ev.App})
	}
	return out, nil
}

// redactFields hides the credentials of every URL in what a notification
// says (a template printing .app.spec.source.repoURL, an error message
// quoting one): receivers are outside the cluster's RBAC.
func redactFields(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case string:
			m[k] = redact.Text(x)
		case map[string]any:
			redactFields(x)
		case []any:
			for i, e := range x {
				if s, ok := e.(string); ok {
					x[i] = redact.Text(s)
				} else if mm, ok := e.(map[string]any); ok {
					redactFields(mm)
				}
			}
		}
	}
}
