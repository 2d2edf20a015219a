package application

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/redact"
)

// validate returns why the Application cannot be reconciled, or "".
func validate(app *v1alpha1.Application) string {
	if app.Spec.Source != nil && len(app.Spec.Sources) > 0 {
		return "spec.source and spec.sources are both set; set one"
	}
	srcs := appstate.Sources(app)
	if len(srcs) == 0 {
		return "spec.source.repoURL is required"
	}
	refs := map[string]bool{}
	for i, s := range srcs {
		field := "spec.source"
		if appstate.MultiSource(app) {
			field = fmt.Sprintf("spec.sources[%d]", i)
		}
		if s.RepoURL == "" {
			return field + ".repoURL is required"
		}
		if s.Ref != "" {
			if refs[s.Ref] {
				return fmt.Sprintf("%s.ref: %q names another source already", field, s.Ref)
			}
			refs[s.Ref] = true
		}
	}
	if dest := app.Spec.Destination; dest.Server == "" && dest.Name == "" {
		return "spec.destination: server or name is required"
	}
	return ""
}

// checkUnsupported raises UnsupportedField for fields of the Application that
// Ferry does not model, so nothing a user wrote is ignored silently. The raw
// object is read once per generation.
func (r *Reconciler) checkUnsupported(ctx context.Context, app *v1alpha1.Application, conds *conditions) {
	fields, ok := r.unsupported.get(app.UID, app.Generation)
	if !ok {
		raw := &unstructured.Unstructured{}
		raw.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Application"))
		if err := r.direct.Get(ctx, appKey(app), raw); err != nil {
			return
		}
		fields = append(v1alpha1.UnsupportedFields(raw.Object), unsupportedSettings(app)...)
		r.unsupported.put(app.UID, app.Generation, fields)
	}
	if len(fields) == 0 {
		conds.clear(v1alpha1.ApplicationConditionUnsupportedField)
		return
	}
	conds.set(v1alpha1.ApplicationConditionUnsupportedField,
		fmt.Sprintf("Ferry does not support these fields yet and ignores them: %s", strings.Join(fields, ", ")))
}

// supportedSyncOptions are the syncOptions Ferry honours. ServerSideApply is
// always on in Ferry, so asking for it is no news.
var supportedSyncOptions = map[string]bool{
	"CreateNamespace=true": true, "CreateNamespace=false": true,
	"RespectIgnoreDifferences=true": true, "RespectIgnoreDifferences=false": true,
	"ServerSideApply=true": true,
	"PruneLast=true":       true, "PruneLast=false": true,
}

// unsupportedSettings lists modelled fields whose values Ferry does not
// honour yet.
func unsupportedSettings(app *v1alpha1.Application) []string {
	var out []string
	check := func(field string, opts []string) {
		for _, o := range opts {
			if !supportedSyncOptions[strings.TrimSpace(o)] {
				out = append(out, fmt.Sprintf("%s %q", field, o))
			}
		}
	}
	if p := app.Spec.SyncPolicy; p != nil {
		check("spec.syncPolicy.syncOptions", p.SyncOptions)
	}
	if op := app.Operation; op != nil && op.Sync != nil {
		check("operation.sync.syncOptions", op.Sync.SyncOptions)
	}
	return out
}

// setSourceTypes records how the sources rendered, and the renders'
// warnings.
func setSourceTypes(app *v1alpha1.Application, d *appstate.Desired, conds *conditions) {
	app.Status.SourceType = v1alpha1.ApplicationSourceType(d.SourceType)
	app.Status.SourceTypes = nil
	for _, t := range d.SourceTypes {
		app.Status.SourceTypes = append(app.Status.SourceTypes, v1alpha1.ApplicationSourceType(t))
	}
	if len(d.Warnings) > 0 {
		conds.set(v1alpha1.ApplicationConditionRenderWarning, strings.Join(d.Warnings, "; "))
	} else {
		conds.clear(v1alpha1.ApplicationConditionRenderWarning)
	}
}

// setCompared records a comparison in status: per-resource sync and health,
// the Application's sync status, health, and shared-resource warnings.
func setCompared(app *v1alpha1.Application, revision string, cmp *appstate.Comparison, conds *conditions) {
	st := cmp.Status()
	app.Status.Resources = st.Resources
	rev, revs := appstate.StatusRevisions(app, revision)
	app.Status.Sync = v1alpha1.SyncStatus{Status: st.Sync, Revision: rev, Revisions: revs,
		ComparedTo: v1alpha1.ComparedTo{Destination: app.Spec.Destination}}
	if appstate.MultiSource(app) {
		app.Status.Sync.ComparedTo.Sources = app.Spec.Sources
	} else {
		app.Status.Sync.ComparedTo.Source = *app.Spec.Source
	}
	app.Status.Health = healthOf(app.Status.Health, st.Health)
	if len(st.Shared) > 0 {
		conds.set(v1alpha1.ApplicationConditionSharedResourceWarning,
			"left untouched, managed by another application: "+strings.Join(st.Shared, ", "))
	} else {
		conds.clear(v1alpha1.ApplicationConditionSharedResourceWarning)
	}
}

// healthOf is the Application's health status now: the transition time
// (Argo CD's status.health.lastTransitionTime, which its catalog's
// on-deployed reads) moves only when the status changes.
func healthOf(prev v1alpha1.HealthStatus, code v1alpha1.HealthStatusCode) v1alpha1.HealthStatus {
	h := v1alpha1.HealthStatus{Status: code, LastTransitionTime: prev.LastTransitionTime}
	if code != prev.Status || h.LastTransitionTime == nil {
		now := metav1.Now()
		h.LastTransitionTime = &now
	}
	return h
}

// conditions edits an Application's conditions, keeping the transition time
// of a condition whose message did not change.
type conditions struct {
	byType map[v1alpha1.ApplicationConditionType]v1alpha1.ApplicationCondition
}

func newConditions(app *v1alpha1.Application) *conditions {
	c := &conditions{byType: map[v1alpha1.ApplicationConditionType]v1alpha1.ApplicationCondition{}}
	for _, cond := range app.Status.Conditions {
		c.byType[cond.Type] = cond
	}
	return c
}

// set sets a condition; changed is false when it was already set with msg.
func (c *conditions) set(t v1alpha1.ApplicationConditionType, msg string) (changed bool) {
	msg = redact.Text(msg)
	if old, ok := c.byType[t]; ok && old.Message == msg {
		return false
	}
	now := metav1.Now()
	c.byType[t] = v1alpha1.ApplicationCondition{Type: t, Message: msg, LastTransitionTime: &now}
	return true
}

func (c *conditions) clear(t v1alpha1.ApplicationConditionType) { delete(c.byType, t) }

func (c *conditions) apply(app *v1alpha1.Application) {
	out := make([]v1alpha1.ApplicationCondition, 0, len(c.byType))
	for _, cond := range c.byType {
		out = append(out, cond)
	}
	slices.SortFunc(out, func(a, b v1alpha1.ApplicationCondition) int { return strings.Compare(string(a.Type), string(b.Type)) })
	if len(out) == 0 {
		out = nil
	}
	app.Status.Conditions = out
}

// unsupportedCache remembers UnsupportedFields per Application generation.
type unsupportedCache struct {
	mu sync.Mutex
	m  map[types.UID]unsupportedEntry
}

type unsupportedEntry struct {
	generation int64
	fields     []string
}

func (c *unsupportedCache) get(uid types.UID, generation int64) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[uid]
	return e.fields, ok && e.generation == generation
}

func (c *unsupportedCache) put(uid types.UID, generation int64, fields []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.UID]unsupportedEntry{}
	}
	c.m[uid] = unsupportedEntry{generation: generation, fields: fields}
}
