// Package notify delivers Application notifications configured as Argo CD
// Notifications is: it reads the ConfigMap's and Secret's data, evaluates
// the triggers' `when` conditions with Argo CD's notifications engine (expr
// language, the same functions), renders Argo CD's templates and sends
// them to the services teams use. Every request goes through one HTTP
// client (Sender), which holds the network boundary, retries and redacts.
package notify

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/argoproj/notifications-engine/pkg/triggers"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// subscribeAnnotation prefixes an Application's subscription annotations:
// <prefix><trigger>.<service> or <prefix><service> (default triggers).
const subscribeAnnotation = "notifications.argoproj.io/subscribe."

// Config is a parsed notifications configuration: services, templates,
// triggers and subscriptions. Build it with Parse.
type Config struct {
	// Warnings lists what the configuration asks for that Ferry accepts but
	// does not act on (undefined triggers, unsupported service types,
	// unknown keys), one line each naming the key, sorted.
	Warnings []string

	services        map[string]service
	unsupported     map[string]string // service name → its unsupported type
	templates       map[string]*messageTemplate
	triggers        map[string][]triggers.Condition // configured and built in
	engine          triggers.Service                // evaluates triggers
	subscriptions   []subscription
	defaultTriggers map[string][]string // service ("" for all) → triggers
	context         map[string]string
	redactor        *strings.Replacer
}

// subscription is one entry of the `subscriptions` key.
type subscription struct {
	recipients []Destination
	triggers   []string
	selector   k8slabels.Selector
}

// Destination is one service (and optional recipient, e.g. a Slack channel)
// to notify.
type Destination struct{ Service, Recipient string }

// Parse reads the ConfigMap and Secret data. Errors name the key at fault; a
// "$key" with no such Secret key is an error naming the key (never the
// secret's value).
func Parse(cm map[string]string, secret map[string][]byte) (*Config, error) {
	p := &parser{
		secret:      secret,
		serviceKeys: map[string]string{},
		cfg: &Config{
			services:        map[string]service{},
			unsupported:     map[string]string{},
			templates:       map[string]*messageTemplate{},
			triggers:        map[string][]triggers.Condition{},
			defaultTriggers: map[string][]string{},
			context:         map[string]string{},
		},
	}
	for _, key := range slices.Sorted(maps.Keys(cm)) {
		if err := p.parseKey(key, cm[key]); err != nil {
			return nil, err
		}
	}
	if err := p.compileTriggers(); err != nil {
		return nil, err
	}
	p.checkSubscriptions()
	p.cfg.redactor = newRedactor(p.secrets)
	sort.Strings(p.cfg.Warnings)
	return p.cfg, nil
}

// parser accumulates a Config and the secret values to redact.
type parser struct {
	cfg         *Config
	secret      map[string][]byte
	secrets     []string
	serviceKeys map[string]string // service name → the key defining it
}

func (p *parser) warnf(format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, fmt.Sprintf(format, args...))
}

func (p *parser) parseKey(key, value string) error {
	switch {
	case key == "subscriptions":
		return p.parseSubscriptions(key, value)
	case key == "defaultTriggers":
		return p.parseDefaultTriggers(key, "", value)
	case strings.HasPrefix(key, "defaultTriggers."):
		return p.parseDefaultTriggers(key, strings.TrimPrefix(key, "defaultTriggers."), value)
	case key == "context":
		return unmarshal(key, value, &p.cfg.context)
	case strings.HasPrefix(key, "service."):
		return p.parseService(key, value)
	case strings.HasPrefix(key, "template."):
		return p.parseTemplate(key, value)
	case strings.HasPrefix(key, "trigger."):
		return p.parseTrigger(key, value)
	}
	p.warnf("%s: unknown key; ignored", key)
	return nil
}

// unmarshal decodes YAML value into v; errors name key.
func unmarshal(key, value string, v any) error {
	if err := yaml.Unmarshal([]byte(value), v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func (p *parser) parseDefaultTriggers(key, service, value string) error {
	var triggers []string
	if err := unmarshal(key, value, &triggers); err != nil {
		return err
	}
	p.cfg.defaultTriggers[service] = triggers
	return nil
}

// subscriptionSpec is one entry of the `subscriptions` key.
type subscriptionSpec struct {
	Recipients []string `json:"recipients"`
	Triggers   []string `json:"triggers"`
	Selector   string   `json:"selector"`
}

func (p *parser) parseSubscriptions(key, value string) error {
	var specs []subscriptionSpec
	if err := unmarshal(key, value, &specs); err != nil {
		return err
	}
	for i, s := range specs {
		sel, err := k8slabels.Parse(s.Selector)
		if err != nil {
			return fmt.Errorf("%s: entry %d: selector: %w", key, i, err)
		}
		sub := subscription{triggers: s.Triggers, selector: sel}
		for _, r := range s.Recipients {
			service, recipient, _ := strings.Cut(r, ":")
			if service == "" {
				return fmt.Errorf("%s: entry %d: recipient %q names no service", key, i, r)
			}
			sub.recipients = append(sub.recipients, Destination{Service: service, Recipient: recipient})
		}
		p.cfg.subscriptions = append(p.cfg.subscriptions, sub)
	}
	return nil
}

// checkSubscriptions warns about subscriptions to services not configured
// and about subscribed or default triggers that are not defined.
func (p *parser) checkSubscriptions() {
	undefined := func(key string, names []string) {
		for _, t := range names {
			if _, ok := p.cfg.triggers[t]; !ok {
				p.warnf("%s: trigger %q is not defined (no trigger.%s key); it never fires", key, t, t)
			}
		}
	}
	for _, s := range p.cfg.subscriptions {
		undefined("subscriptions", s.triggers)
		for _, d := range s.recipients {
			_, unsupported := p.cfg.unsupported[d.Service]
			if _, ok := p.cfg.services[d.Service]; !ok && !unsupported {
				p.warnf("subscriptions: service %q is not configured", d.Service)
			}
		}
	}
	for _, service := range slices.Sorted(maps.Keys(p.cfg.defaultTriggers)) {
		key := "defaultTriggers"
		if service != "" {
			key += "." + service
		}
		undefined(key, p.cfg.defaultTriggers[service])
	}
}

// secretRef matches a "$key" reference to the Secret.
var secretRef = regexp.MustCompile(`\$[A-Za-z0-9_.\-]+`)

// expand replaces "$key" references in value by the Secret's values. A
// reference may be followed by literal text starting with a dot
// ("$host.example.com" when the Secret has "host"). Errors name key and the
// missing Secret key, never a value.
func (p *parser) expand(key, value string) (string, error) {
	var missing string
	out := secretRef.ReplaceAllStringFunc(value, func(ref string) string {
		value, rest, ok := p.lookupSecret(ref[1:])
		if !ok {
			if missing == "" {
				missing = ref[1:]
			}
			return ref
		}
		return value + rest
	})
	if missing != "" {
		return "", fmt.Errorf("%s: secret key %q not found", key, missing)
	}
	return out, nil
}

// lookupSecret finds the longest Secret key that ref starts with, cutting
// ref at dots; it returns the key's value and the rest of ref.
func (p *parser) lookupSecret(ref string) (value, rest string, ok bool) {
	for name := ref; name != ""; {
		if v, found := p.secret[name]; found {
			p.secrets = append(p.secrets, string(v))
			return string(v), ref[len(name):], true
		}
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return "", "", false
}

// expandAll expands each of fields in place, stopping at the first error.
func (p *parser) expandAll(key string, fields ...*string) error {
	for _, f := range fields {
		v, err := p.expand(key, *f)
		if err != nil {
			return err
		}
		*f = v
	}
	return nil
}

// sensitive records values to redact from errors: tokens, keys, URLs'
// passwords and query values.
func (p *parser) sensitive(values ...string) {
	p.secrets = append(p.secrets, values...)
}

// checkURL verifies raw is an absolute http(s) URL and records its secrets.
// Errors never contain the URL.
func (p *parser) checkURL(key, field, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: %s is required", key, field)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %s is not an absolute http(s) URL", key, field)
	}
	if pw, ok := u.User.Password(); ok {
		p.sensitive(pw)
	}
	for _, vs := range u.Query() {
		p.sensitive(vs...)
	}
	return u, nil
}

// newRedactor replaces each secret by "***", longest first.
func newRedactor(secrets []string) *strings.Replacer {
	var uniq []string
	for _, s := range secrets {
		if s != "" && !slices.Contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	sort.Slice(uniq, func(i, j int) bool { return len(uniq[i]) > len(uniq[j]) })
	pairs := make([]string, 0, 2*len(uniq))
	for _, s := range uniq {
		pairs = append(pairs, s, "***")
	}
	return strings.NewReplacer(pairs...)
}

// redact removes the configuration's secrets from s.
func (c *Config) redact(s string) string {
	if c.redactor == nil {
		return s
	}
	return c.redactor.Replace(s)
}

// Destinations lists where trigger's notifications go, as Argo CD's
// notifications engine reads subscriptions: the `subscriptions` entries
// whose triggers include it (an entry without triggers: `defaultTriggers`)
// and whose selector matches labels; annotations
// notifications.argoproj.io/subscribe.<trigger>.<service>:
// "<recipient1>;<recipient2>" (an empty value is one empty recipient);
// notifications.argoproj.io/subscribe.<service> (its default triggers:
// `defaultTriggers.<service>`, else `defaultTriggers`); and the YAML list
// in notifications.argoproj.io/subscriptions ([{trigger: [...],
// destinations: [{service, recipients}]}]). Deduplicated, sorted.
func (c *Config) Destinations(trigger string, labels, annotations map[string]string) []Destination {
	set := map[Destination]bool{}
	for _, s := range c.subscriptions {
		if !s.selector.Matches(k8slabels.Set(labels)) {
			continue
		}
		triggers := s.triggers
		if len(triggers) == 0 {
			triggers = c.defaultTriggers[""]
		}
		if slices.Contains(triggers, trigger) {
			for _, d := range s.recipients {
				set[d] = true
			}
		}
	}
	for _, a := range annotationSubscriptions(annotations) {
		if slices.Contains(c.triggersOf(a.triggers, a.service), trigger) {
			for _, r := range a.recipients {
				set[Destination{Service: a.service, Recipient: r}] = true
			}
		}
	}
	return sortedDestinations(set)
}

// annotationSubscription is one subscription an annotation makes; no
// triggers means the service's default triggers.
type annotationSubscription struct {
	triggers   []string
	service    string
	recipients []string
}

// subscriptionsAnnotation holds Argo CD's YAML form of subscriptions.
const subscriptionsAnnotation = "notifications.argoproj.io/subscriptions"

// annotationSubscriptions reads an Application's subscription annotations;
// a malformed YAML list subscribes nothing (as in Argo CD, which logs it).
func annotationSubscriptions(annotations map[string]string) []annotationSubscription {
	var out []annotationSubscription
	for key, value := range annotations {
		if key == subscriptionsAnnotation {
			var list []struct {
				Trigger      []string `json:"trigger"`
				Destinations []struct {
					Service    string   `json:"service"`
					Recipients []string `json:"recipients"`
				} `json:"destinations"`
			}
			if yaml.Unmarshal([]byte(value), &list) != nil {
				continue
			}
			for _, s := range list {
				for _, d := range s.Destinations {
					if d.Service != "" {
						out = append(out, annotationSubscription{triggers: s.Trigger, service: d.Service, recipients: d.Recipients})
					}
				}
			}
			continue
		}
		if triggers, service, ok := parseSubscribeKey(key); ok {
			out = append(out, annotationSubscription{triggers: triggers, service: service, recipients: splitRecipients(value)})
		}
	}
	return out
}

func (c *Config) defaultTriggersFor(service string) []string {
	if t, ok := c.defaultTriggers[service]; ok {
		return t
	}
	return c.defaultTriggers[""]
}

// parseSubscribeKey splits a subscription annotation key into its trigger
// (nil: the default triggers) and service, as Argo CD does:
// subscribe.<trigger>.<service>[.<ignored>] or subscribe.<service>.
func parseSubscribeKey(key string) (triggers []string, service string, ok bool) {
	rest, ok := strings.CutPrefix(key, subscribeAnnotation)
	if !ok || rest == "" {
		return nil, "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) == 1 {
		return nil, rest, true
	}
	if parts[0] == "" || parts[1] == "" {
		return nil, "", false
	}
	return []string{parts[0]}, parts[1], true
}

// splitRecipients splits "a;b" into its recipients: an empty value is one
// empty recipient, a value of separators none (as in Argo CD).
func splitRecipients(value string) []string {
	if value == "" {
		return []string{""}
	}
	var out []string
	for _, r := range strings.Split(value, ";") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func sortedDestinations(set map[Destination]bool) []Destination {
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, func(a, b Destination) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Recipient, b.Recipient)
	})
	return out
}

// service returns the configured service name.
func (c *Config) service(name string) (service, error) {
	if s, ok := c.services[name]; ok {
		return s, nil
	}
	if kind, ok := c.unsupported[name]; ok {
		return nil, fmt.Errorf("service %q: type %q is not supported", name, kind)
	}
	return nil, fmt.Errorf("service %q is not configured (no service.<type>.%s key)", name, name)
}
