package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/argoproj/notifications-engine/pkg/triggers"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// The triggers Ferry defines when the ConfigMap does not: Argo CD's
// notifications catalog, verbatim (the same `when` and `oncePer`
// expressions), and Ferry's own on-drift-detected and on-out-of-sync.
const (
	TriggerCreated           = "on-created"
	TriggerDeleted           = "on-deleted"
	TriggerDeployed          = "on-deployed"
	TriggerHealthDegraded    = "on-health-degraded"
	TriggerSyncFailed        = "on-sync-failed"
	TriggerSyncRunning       = "on-sync-running"
	TriggerSyncStatusUnknown = "on-sync-status-unknown"
	TriggerSyncSucceeded     = "on-sync-succeeded"
	TriggerDriftDetected     = "on-drift-detected"
	TriggerOutOfSync         = "on-out-of-sync"
)

// catalogOncePer is the catalog's oncePer for most of its triggers.
const catalogOncePer = "app.status.operationState?.syncResult?.revision"

// builtinTriggers are the triggers a ConfigMap need not define; a
// `trigger.<name>` key replaces one whole. The catalog's entries are copied
// from Argo CD's notifications_catalog/triggers; on-deployed's time
// comparison reads status.health.lastTransitionTime, which Ferry records
// as Argo CD does.
var builtinTriggers = map[string][]triggers.Condition{
	TriggerCreated: {{When: "true", Description: "Application is created.", Send: []string{"app-created"},
		OncePer: "app.metadata.name"}},
	TriggerDeleted: {{When: "app.metadata.deletionTimestamp != nil", Description: "Application is deleted.",
		Send: []string{"app-deleted"}, OncePer: "app.metadata.name"}},
	TriggerDeployed: {{When: "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))",
		Description: "Application is synced and healthy. Triggered once per commit.", Send: []string{"app-deployed"}, OncePer: catalogOncePer}},
	TriggerHealthDegraded: {{When: "app.status.health.status == 'Degraded'", Description: "Application has degraded",
		Send: []string{"app-health-degraded"}, OncePer: catalogOncePer}},
	TriggerSyncFailed: {{When: "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
		Description: "Application syncing has failed", Send: []string{"app-sync-failed"}, OncePer: catalogOncePer}},
	TriggerSyncRunning: {{When: "app.status.operationState != nil and app.status.operationState.phase in ['Running']",
		Description: "Application is being synced", Send: []string{"app-sync-running"}, OncePer: catalogOncePer}},
	TriggerSyncStatusUnknown: {{When: "app.status.sync.status == 'Unknown'", Description: "Application status is 'Unknown'",
		Send: []string{"app-sync-status-unknown"}, OncePer: catalogOncePer}},
	TriggerSyncSucceeded: {{When: "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']",
		Description: "Application syncing has succeeded", Send: []string{"app-sync-succeeded"}, OncePer: catalogOncePer}},
	// Ferry's: a comparison found managed objects changed outside Git;
	// ferry.drift.key names the objects' resourceVersions, so each change
	// is told once, whether or not self-heal then reverts it.
	TriggerDriftDetected: {{When: "ferry.drift != nil", Description: "Managed objects changed outside Git",
		Send: []string{"app-drift-detected"}, OncePer: "ferry.drift.key"}},
	// Ferry's: told once per revision the Application is out of sync with
	// (a drift at the same revision has its own trigger).
	TriggerOutOfSync: {{When: "app.status.sync.status == 'OutOfSync'", Description: "Application is out of sync",
		Send: []string{"app-out-of-sync"}, OncePer: "app.status.sync.revision"}},
}

// BuiltinTriggers lists the triggers defined without configuration.
func BuiltinTriggers() []string { return slices.Sorted(maps.Keys(builtinTriggers)) }

// parseTrigger reads a `trigger.<name>` key: Argo CD's list of conditions.
func (p *parser) parseTrigger(key, value string) error {
	name := strings.TrimPrefix(key, "trigger.")
	// when and oncePer as written: `when: true` is YAML's boolean, which
	// Argo CD's catalog files write unquoted.
	var specs []struct {
		When        any      `json:"when"`
		OncePer     any      `json:"oncePer"`
		Description string   `json:"description"`
		Send        []string `json:"send"`
	}
	if err := unmarshal(key, value, &specs); err != nil {
		return err
	}
	conds := make([]triggers.Condition, len(specs))
	for i, s := range specs {
		conds[i] = triggers.Condition{When: scalar(s.When), OncePer: scalar(s.OncePer), Description: s.Description, Send: s.Send}
	}
	if len(conds) == 0 {
		return fmt.Errorf("%s: no conditions", key)
	}
	for i, c := range conds {
		if len(c.Send) == 0 {
			return fmt.Errorf("%s: condition %d has no templates to send", key, i)
		}
		if strings.TrimSpace(c.When) == "" {
			p.warnf("%s: condition %d has no `when`; it never fires", key, i)
		}
	}
	p.cfg.triggers[name] = conds
	return nil
}

// scalar is a YAML scalar as text; nil is empty.
func scalar(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// compileTriggers merges the built-in triggers under the configured ones,
// checks every template they send exists, and compiles the conditions with
// Argo CD's notifications engine (expr language). Errors name the trigger.
func (p *parser) compileTriggers() error {
	for name, conds := range builtinTriggers {
		if _, ok := p.cfg.triggers[name]; !ok {
			p.cfg.triggers[name] = conds
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.cfg.triggers)) {
		for i, c := range p.cfg.triggers[name] {
			for _, t := range c.Send {
				if p.cfg.template(t) == nil {
					// Only this trigger's sends fail (as in Argo CD), not
					// the whole configuration.
					p.warnf("trigger.%s: condition %d sends template %q, which is not defined (no template.%s key); its sends fail", name, i, t, t)
				}
			}
			// Compiled one at a time first, so the error names the trigger.
			if _, err := triggers.NewService(map[string][]triggers.Condition{name: {c}}); err != nil {
				return fmt.Errorf("trigger.%s: condition %d: %w", name, i, err)
			}
		}
	}
	svc, err := triggers.NewService(p.cfg.triggers)
	if err != nil {
		return err
	}
	p.cfg.engine = svc
	return nil
}

// Trigger returns a trigger's conditions (configured or built in).
func (c *Config) Trigger(name string) ([]triggers.Condition, bool) {
	t, ok := c.triggers[name]
	return t, ok
}

// Check evaluates a trigger's conditions against ev, each result with its
// condition's index.
func (c *Config) Check(trigger string, ev Event) ([]triggers.ConditionResult, error) {
	if _, ok := c.triggers[trigger]; !ok {
		return nil, fmt.Errorf("trigger %q is not defined (no trigger.%s key); defined: %s", trigger, trigger, strings.Join(c.Triggers(), ", "))
	}
	return c.engine.Run(trigger, c.vars(ev.For(trigger), Destination{}))
}

// TemplatesOf lists the templates a trigger's conditions send, in order,
// each once; none when the trigger is not defined.
func (c *Config) TemplatesOf(trigger string) []string {
	var out []string
	for _, cond := range c.triggers[trigger] {
		for _, t := range cond.Send {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Triggers lists the defined triggers, sorted.
func (c *Config) Triggers() []string { return slices.Sorted(maps.Keys(c.triggers)) }

// Send is what a trigger condition that holds sends to one destination.
type Send struct {
	Trigger     string
	Templates   []string
	Destination Destination
	// Key is the State entry recording it: State.Forget(Key) when it could
	// not be delivered, so it is tried again.
	Key string
}

// Evaluate runs the triggers subscribed for the Application of ev
// (Subscriptions of its labels and annotations, computed once by the
// caller) against it, as Argo CD's
// notifications controller does: a condition that holds is sent to each
// destination once, until it stops holding (then it may fire again); with
// oncePer, once per value of that expression, ever. st records what was
// sent (the Application's annotation, as Argo CD keeps it) and is updated;
// changed says whether it must be written back. Conditions that fail to
// evaluate are false (Argo CD's rule); errors lists triggers that are
// subscribed but not defined.
func (c *Config) Evaluate(ev Event, subscribed map[string][]Destination, st *State) (sends []Send, changed bool, errs []error) {
	for _, trigger := range slices.Sorted(maps.Keys(subscribed)) {
		// Per trigger, so `when:` sees what templates see (trigger,
		// revision, message).
		results, err := c.engine.Run(trigger, c.vars(ev.For(trigger), Destination{}))
		if err != nil {
			errs = append(errs, fmt.Errorf("trigger %q is subscribed but not defined (no trigger.%s key)", trigger, trigger))
			continue
		}
		for _, r := range results {
			for _, d := range subscribed[trigger] {
				if key, news := st.set(trigger, r, d, r.Triggered); news && r.Triggered {
					sends = append(sends, Send{Trigger: trigger, Templates: r.Templates, Destination: d, Key: key})
				}
			}
		}
	}
	return sends, st.dirty, errs
}

// Subscriptions maps each trigger subscribed for an Application (by its
// labels and annotations) to its destinations; empty: nothing to evaluate.
func (c *Config) Subscriptions(labels, annotations map[string]string) map[string][]Destination {
	names := map[string]bool{}
	for _, s := range c.subscriptions {
		if !s.selector.Matches(k8slabels.Set(labels)) {
			continue
		}
		triggers := s.triggers
		if len(triggers) == 0 {
			triggers = c.defaultTriggers[""]
		}
		for _, t := range triggers {
			names[t] = true
		}
	}
	for _, a := range annotationSubscriptions(annotations) {
		for _, t := range c.triggersOf(a.triggers, a.service) {
			names[t] = true
		}
	}
	out := map[string][]Destination{}
	for t := range names {
		if d := c.Destinations(t, labels, annotations); len(d) > 0 {
			out[t] = d
		}
	}
	return out
}

// triggersOf is triggers, or the default triggers for service when empty.
func (c *Config) triggersOf(triggers []string, service string) []string {
	if len(triggers) == 0 {
		return c.defaultTriggersFor(service)
	}
	return triggers
}

// NotifiedAnnotation records on an Application which trigger conditions
// were sent to which destinations: Argo CD's annotation, with its keys, so
// an Application moved from Argo CD is not told again what it was told.
const NotifiedAnnotation = "notified.notifications.argoproj.io"

// stateMaxSize is how many entries the annotation keeps (the oldest go).
const stateMaxSize = 100

// State is what an Application was told: keys as Argo CD's notifications
// engine writes them ([oncePer:]trigger:conditionKey:service:recipient),
// each with the Unix time it was sent.
type State struct {
	sent    map[string]int64
	holding map[string]bool // keys whose condition holds in this evaluation
	dirty   bool
	now     func() time.Time
}

// StateOf reads an Application's annotations; a malformed value is empty.
func StateOf(annotations map[string]string) *State {
	st := &State{sent: map[string]int64{}, holding: map[string]bool{}, now: time.Now}
	if v := annotations[NotifiedAnnotation]; v != "" {
		if err := json.Unmarshal([]byte(v), &st.sent); err != nil {
			st.sent = map[string]int64{}
		}
	}
	return st
}

func stateKey(trigger string, r triggers.ConditionResult, d Destination) string {
	key := fmt.Sprintf("%s:%s:%s:%s", trigger, r.Key, d.Service, d.Recipient)
	if r.OncePer != "" {
		key = r.OncePer + ":" + key
	}
	return key
}

// set records whether a condition holds for d and reports its key and
// whether that is news: sent now, or cleared. A oncePer entry is never
// cleared.
func (s *State) set(trigger string, r triggers.ConditionResult, d Destination, holds bool) (string, bool) {
	key := stateKey(trigger, r, d)
	_, was := s.sent[key]
	if holds {
		s.holding[key] = true
	}
	if was == holds {
		return key, false
	}
	if holds {
		s.sent[key] = s.now().Unix()
	} else {
		if r.OncePer != "" {
			return key, false
		}
		delete(s.sent, key)
	}
	s.dirty = true
	return key, true
}

// Changed reports whether the annotation must be written.
func (s *State) Changed() bool { return s.dirty }

// Forget drops key (a notification that could not be queued or
// delivered), so the next evaluation tells it again.
func (s *State) Forget(key string) {
	if _, ok := s.sent[key]; ok {
		delete(s.sent, key)
		s.dirty = true
	}
}

// Annotation is the annotation's new value ("" when nothing is recorded).
// Beyond 100 entries the oldest go, except those whose condition holds in
// this evaluation: dropping one of those would tell it again.
func (s *State) Annotation() string {
	if n := len(s.sent) - stateMaxSize; n > 0 {
		var old []string
		for k := range s.sent {
			if !s.holding[k] {
				old = append(old, k)
			}
		}
		sort.Slice(old, func(i, j int) bool {
			if s.sent[old[i]] != s.sent[old[j]] {
				return s.sent[old[i]] < s.sent[old[j]]
			}
			return old[i] < old[j]
		})
		for _, k := range old[:min(n, len(old))] {
			delete(s.sent, k)
		}
	}
	if len(s.sent) == 0 {
		return ""
	}
	data, _ := json.Marshal(s.sent)
	return string(data)
}
