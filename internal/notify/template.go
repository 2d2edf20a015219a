package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/ferrycd/ferry/internal/redact"
)

// Event is what happened to an Application, for templates: .app is the
// Application (as map[string]any, its JSON), plus the fields below.
type Event struct {
	// Trigger is the transition, e.g. "on-sync-failed".
	Trigger string
	// App is the Application object as a JSON-decoded map (templates use
	// {{.app.metadata.name}}).
	App map[string]any
	// Revision is the revision the event is about.
	Revision string
	// RepoURL is the Application's source repoURL, for commit statuses.
	RepoURL string
	// Message is a one-line human summary the caller computed (e.g. "sync
	// failed: ...").
	Message string
	// Context holds extra values, e.g. "manager": "kubectl-edit" for drift,
	// "objects": "...". They override the ConfigMap's `context` key.
	Context map[string]string
}

// Notification is a rendered message for one destination. Exactly one of
// Webhook, Slack and Status is set, for the destination's service type.
type Notification struct {
	Destination Destination
	Trigger     string
	// Template is the name of the template rendered.
	Template string
	// Message is the template's rendered message.
	Message string

	Webhook *WebhookRequest
	Slack   *SlackMessage
	Status  *CommitStatus
}

// WebhookRequest is a rendered webhook call. Body holds the exact bytes
// sent (and signed).
type WebhookRequest struct {
	Method string
	Path   string // appended to the service's URL path, before its query
	Body   []byte
}

// SlackMessage is a rendered Slack message. Channel is the destination's
// recipient, empty for the webhook's own channel.
type SlackMessage struct {
	Text    string
	Channel string
}

// CommitStatus is a rendered commit status. Repo is "owner/repo" for GitHub
// and the project's full path for GitLab; State is in the service's own
// vocabulary.
type CommitStatus struct {
	Repo        string
	Revision    string
	State       string
	Context     string
	Description string
	TargetURL   string
}

// messageTemplate is a compiled `template.<name>`; nil members are unset.
type messageTemplate struct {
	message   *template.Template
	webhook   map[string]webhookTemplate // by service name
	slackText *template.Template
	status    map[string]statusTemplate // by service type: github, gitlab
}

type webhookTemplate struct {
	method     string
	path, body *template.Template
}

type statusTemplate struct {
	state, description, context, targetURL *template.Template
}

// templateSpec is a `template.<name>` value.
type templateSpec struct {
	Message string                         `json:"message"`
	Webhook map[string]webhookTemplateSpec `json:"webhook"`
	Slack   *slackTemplateSpec             `json:"slack"`
	GitHub  *statusTemplateSpec            `json:"github"`
	GitLab  *statusTemplateSpec            `json:"gitlab"`
}

type webhookTemplateSpec struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

type slackTemplateSpec struct {
	Text        string          `json:"text"`
	Attachments json.RawMessage `json:"attachments"`
	Blocks      json.RawMessage `json:"blocks"`
}

// statusTemplateSpec is a commit status template: Ferry's flat fields, or
// Argo CD's `status: {state, label, targetURL}`.
type statusTemplateSpec struct {
	State       string          `json:"state"`
	Description string          `json:"description"`
	Context     string          `json:"context"`
	Name        string          `json:"name"`
	TargetURL   string          `json:"targetURL"`
	Status      *argoStatusSpec `json:"status"`
}

type argoStatusSpec struct {
	State     string `json:"state"`
	Label     string `json:"label"`
	TargetURL string `json:"targetURL"`
}

func (p *parser) parseTemplate(key, value string) error {
	var spec templateSpec
	if err := unmarshal(key, value, &spec); err != nil {
		return err
	}
	if s := spec.Slack; s != nil && (len(s.Attachments) > 0 || len(s.Blocks) > 0) {
		p.warnf("%s: slack attachments and blocks are not sent; only text", key)
	}
	t, err := compileTemplate(key, spec)
	if err != nil {
		return err
	}
	p.cfg.templates[strings.TrimPrefix(key, "template.")] = t
	return nil
}

// compileTemplate compiles spec; template names (and errors) start with key.
func compileTemplate(key string, spec templateSpec) (*messageTemplate, error) {
	c := compiler{key: key}
	t := &messageTemplate{
		message: c.compile("message", spec.Message),
		webhook: map[string]webhookTemplate{},
		status:  map[string]statusTemplate{},
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Webhook)) {
		t.webhook[name] = c.webhook(name, spec.Webhook[name])
	}
	if spec.Slack != nil {
		t.slackText = c.compile("slack.text", spec.Slack.Text)
	}
	if spec.GitHub != nil {
		t.status["github"] = c.status("github", *spec.GitHub)
	}
	if spec.GitLab != nil {
		t.status["gitlab"] = c.status("gitlab", *spec.GitLab)
	}
	return t, c.err
}

// compiler compiles a template's parts, keeping the first error.
type compiler struct {
	key string
	err error
}

// compile parses text as the part named part; empty text is nil.
func (c *compiler) compile(part, text string) *template.Template {
	if text == "" || c.err != nil {
		return nil
	}
	t, err := newTemplate(c.key + "." + part).Parse(text)
	if err != nil {
		c.err = fmt.Errorf("%s: %w", c.key, err)
	}
	return t
}

func (c *compiler) webhook(name string, w webhookTemplateSpec) webhookTemplate {
	method := ""
	if w.Method != "" {
		var err error
		if method, err = checkMethod(c.key+".webhook."+name, w.Method); err != nil && c.err == nil {
			c.err = err
		}
	}
	part := "webhook." + name
	return webhookTemplate{
		method: method,
		path:   c.compile(part+".path", w.Path),
		body:   c.compile(part+".body", w.Body),
	}
}

func (c *compiler) status(kind string, s statusTemplateSpec) statusTemplate {
	if a := s.Status; a != nil {
		s.State = firstNonEmpty(s.State, a.State)
		s.Context = firstNonEmpty(s.Context, a.Label)
		s.TargetURL = firstNonEmpty(s.TargetURL, a.TargetURL)
	}
	return statusTemplate{
		state:       c.compile(kind+".state", s.State),
		description: c.compile(kind+".description", s.Description),
		context:     c.compile(kind+".context", firstNonEmpty(s.Context, s.Name)),
		targetURL:   c.compile(kind+".targetURL", s.TargetURL),
	}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// newTemplate is an empty template with Ferry's options and functions.
func newTemplate(name string) *template.Template {
	return template.New(name).Option("missingkey=zero").Funcs(template.FuncMap{
		"toJson": toJSON,
		"short":  short,
	})
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

// execute renders t (nil: empty) with data.
func execute(t *template.Template, data any) (string, error) {
	if t == nil {
		return "", nil
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
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
		t, err := compileTemplate("template."+name, templateSpec{Message: msg})
		if err != nil {
			panic(err)
		}
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

// templatesFor lists the templates trigger sends.
func (c *Config) templatesFor(trigger string) ([]string, error) {
	if names, ok := c.triggers[trigger]; ok {
		return names, nil
	}
	if name, ok := builtinTriggers[trigger]; ok {
		return []string{name}, nil
	}
	return nil, fmt.Errorf("trigger %q is neither built in nor configured (no trigger.%s key)", trigger, trigger)
}

// templateData is what templates see: lowercase keys (Argo CD style), with
// capitalised aliases of the Event's field names. As in Argo CD,
// .serviceType is the destination's service type ("slack", "webhook") and
// .recipient its recipient.
func (c *Config) templateData(ev Event, d Destination) map[string]any {
	ctx := map[string]string{}
	maps.Copy(ctx, c.context)
	maps.Copy(ctx, ev.Context)
	data := map[string]any{
		"app":      ev.App,
		"revision": ev.Revision,
		"repoURL":  ev.RepoURL,
		"message":  ev.Message,
		"context":  ctx,
		"trigger":  ev.Trigger,
		// Argo CD's names, so its catalog's templates render as there.
		"serviceType": c.serviceTypes[d.Service],
		"recipient":   d.Recipient,
	}
	for k, v := range maps.Clone(data) {
		data[strings.ToUpper(k[:1])+k[1:]] = v
	}
	return data
}

// Render renders the templates the trigger sends (the `trigger.<name>` send
// list; when the trigger is not configured, the built-in template for it)
// for a destination. A template yielding nothing for the destination's
// service (an empty Slack text, a commit status for a trigger without a
// commit state) is left out.
//
// Templates run with missingkey=zero: a missing key of a map[string]any
// (such as .app) prints "<no value>"; guard optional fields with {{with}}.
func (c *Config) Render(ev Event, d Destination) ([]Notification, error) {
	svc, err := c.service(d.Service)
	if err != nil {
		return nil, err
	}
	names, err := c.templatesFor(ev.Trigger)
	if err != nil {
		return nil, err
	}
	data := c.templateData(ev, d)
	var out []Notification
	for _, name := range names {
		n, ok, err := c.renderOne(svc, name, data, ev, d)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func (c *Config) renderOne(svc service, name string, data map[string]any, ev Event, d Destination) (Notification, bool, error) {
	n := Notification{Destination: d, Trigger: ev.Trigger, Template: name}
	t := c.template(name)
	if t == nil {
		return n, false, fmt.Errorf("template %q is not defined", name)
	}
	msg, err := execute(t.message, data)
	if err != nil {
		return n, false, fmt.Errorf("template.%s: %w", name, err)
	}
	n.Message = msg
	ok, err := svc.render(t, data, ev, &n)
	if err != nil {
		return n, false, fmt.Errorf("template.%s for service %q: %w", name, d.Service, err)
	}
	redactNotification(&n)
	return n, ok, nil
}

// redactNotification hides the credentials of every URL in what a
// notification says (a template printing .app.spec.source.repoURL, an error
// message quoting one): receivers are outside the cluster's RBAC.
func redactNotification(n *Notification) {
	n.Message = redact.Text(n.Message)
	if w := n.Webhook; w != nil {
		w.Path, w.Body = redact.Text(w.Path), []byte(redact.Text(string(w.Body)))
	}
	if sl := n.Slack; sl != nil {
		sl.Text = redact.Text(sl.Text)
	}
	if st := n.Status; st != nil {
		st.Description, st.TargetURL = redact.Text(st.Description), redact.URL(st.TargetURL)
	}
}
