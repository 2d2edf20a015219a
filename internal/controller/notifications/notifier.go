// Package notifications turns what the Application controller observes into
// notifications: it decides which built-in triggers fired (a pure function
// of the status before and after a reconcile), deduplicates them per
// revision, and delivers them in the background through internal/notify,
// which holds what `ferry notify test` shares with it: loading the
// configuration, building an event, rendering and sending.
//
// Configuration is Argo CD Notifications' ConfigMap and Secret
// (notify.ConfigMapName and notify.SecretName in the controller's home
// namespace): Argo CD users bring theirs as they are, secrets stay in a
// Secret that RBAC guards apart from the configuration, and no CRD is
// needed for what is one configuration per installation.
package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller/application"
	"github.com/ferrycd/ferry/internal/metrics"
	"github.com/ferrycd/ferry/internal/notify"
)

// NotifiedAnnotation records, per trigger, the key (revision, or event)
// last notified, so a trigger fires once per revision, across retries and
// restarts.
const NotifiedAnnotation = "notified.notifications.ferry.dev"

// Fired is a trigger that fired (one of notify's Trigger constants), with
// the key it is deduplicated by and what the message says.
type Fired struct {
	Trigger string
	Key     string
	Message string
	Context map[string]string
}

// Triggers decides which triggers fired between two statuses of one
// Application. drift lists the objects a comparison found changed outside
// Git in this reconcile. A state trigger (deployed, degraded, out of sync,
// unknown) fires on the transition into its state; a finished sync fires
// once per operation. Observe then keeps one per trigger and key.
func Triggers(before, after v1alpha1.ApplicationStatus, drift []application.Drift) []Fired {
	var out []Fired
	if st := after.OperationState; finishedNow(before.OperationState, st) && st.Operation.Sync != nil && !st.Operation.Sync.DryRun {
		rev := ""
		if st.SyncResult != nil {
			rev = st.SyncResult.Revision
		}
		switch st.Phase {
		case v1alpha1.OperationSucceeded:
			out = append(out, Fired{Trigger: notify.TriggerSyncSucceeded, Key: rev, Message: "synced to " + short(rev)})
		case v1alpha1.OperationFailed, v1alpha1.OperationError:
			out = append(out, Fired{Trigger: notify.TriggerSyncFailed, Key: rev, Message: st.Message})
		}
	}
	rev := after.Sync.Revision
	deployed := func(s v1alpha1.ApplicationStatus) bool {
		return s.Sync.Status == v1alpha1.SyncStatusCodeSynced && s.Health.Status == v1alpha1.HealthStatusHealthy
	}
	if deployed(after) && !(deployed(before) && before.Sync.Revision == rev) {
		out = append(out, Fired{Trigger: notify.TriggerDeployed, Key: rev, Message: "deployed " + short(rev) + ": Synced and Healthy"})
	}
	if after.Health.Status == v1alpha1.HealthStatusDegraded && before.Health.Status != v1alpha1.HealthStatusDegraded {
		msg := degradedMessage(after)
		out = append(out, Fired{Trigger: notify.TriggerHealthDegraded, Key: rev, Message: msg})
	}
	if after.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync && before.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync {
		out = append(out, Fired{Trigger: notify.TriggerOutOfSync, Key: rev, Message: "out of sync with " + short(rev)})
	}
	if after.Sync.Status == v1alpha1.SyncStatusCodeUnknown && before.Sync.Status != v1alpha1.SyncStatusCodeUnknown {
		out = append(out, Fired{Trigger: notify.TriggerSyncStatusUnknown, Key: rev, Message: unknownMessage(after)})
	}
	if len(drift) > 0 {
		out = append(out, driftFired(rev, drift))
	}
	return out
}

// degradedMessage says what is Degraded: the Application's health message,
// else the first Degraded resource and its reason.
func degradedMessage(s v1alpha1.ApplicationStatus) string {
	if s.Health.Message != "" {
		return s.Health.Message
	}
	for _, r := range s.Resources {
		if r.Health != nil && r.Health.Status == v1alpha1.HealthStatusDegraded {
			k := r.Kind + " " + r.Name
			if r.Namespace != "" {
				k = r.Kind + " " + r.Namespace + "/" + r.Name
			}
			return strings.TrimSpace("health is Degraded: " + k + " " + r.Health.Message)
		}
	}
	return "health is Degraded"
}

// unknownMessage says why the sync status is Unknown: the conditions that
// prevent a comparison.
func unknownMessage(s v1alpha1.ApplicationStatus) string {
	var why []string
	for _, c := range s.Conditions {
		if c.Type == v1alpha1.ApplicationConditionInvalidSpecError || c.Type == v1alpha1.ApplicationConditionComparisonError {
			why = append(why, c.Message)
		}
	}
	if len(why) == 0 {
		return "sync status is Unknown"
	}
	return "sync status is Unknown: " + strings.Join(why, "; ")
}

// driftFired describes a drift; its key is the revision and the changed
// objects' resourceVersions, so each change is told once.
func driftFired(rev string, drift []application.Drift) Fired {
	var objects, managers, versions []string
	for _, d := range drift {
		objects = append(objects, d.Key.String())
		versions = append(versions, d.Key.String()+"@"+d.ResourceVersion)
		if d.Manager != "" && !slices.Contains(managers, d.Manager) {
			managers = append(managers, d.Manager)
		}
	}
	sort.Strings(versions)
	by := strings.Join(managers, ", ")
	if by == "" {
		by = "an unknown manager"
	}
	return Fired{Trigger: notify.TriggerDriftDetected, Key: rev + "|" + strings.Join(versions, ","),
		Message: fmt.Sprintf("changed outside Git by %s: %s", by, strings.Join(objects, ", ")),
		Context: map[string]string{"manager": strings.Join(managers, ", "), "objects": strings.Join(objects, ", ")}}
}

// finishedNow reports an operation that finished in this reconcile.
func finishedNow(before, after *v1alpha1.OperationState) bool {
	if after == nil || after.FinishedAt == nil {
		return false
	}
	return before == nil || before.FinishedAt == nil || !before.StartedAt.Equal(&after.StartedAt)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// Notifier implements application.Notifier.
type Notifier struct {
	client  client.Client  // writes to the API server
	loader  *notify.Loader // reads the home namespace's ConfigMap and Secret from a watch cache
	sender  *notify.Sender
	metrics *metrics.Metrics
	log     logr.Logger
	jobs    chan job

	mu     sync.Mutex
	warned *notify.Config // the configuration whose warnings were logged
}

type job struct {
	cfg   *notify.Config
	event notify.Event
	dests []notify.Destination
}

// New returns a notifier reading its configuration from namespace home
// through reader (a watch cache), writing through c, and sending through
// httpc (nil: a default client).
func New(c client.Client, reader client.Reader, home string, httpc *http.Client, m *metrics.Metrics, log logr.Logger) *Notifier {
	return &Notifier{client: c, loader: &notify.Loader{Reader: reader, Namespace: home}, sender: &notify.Sender{Client: httpc},
		metrics: m, log: log, jobs: make(chan job, 1024)}
}

// Observe implements application.Notifier: it finds the triggers that fired,
// skips those already notified for their key, queues the rest and records
// them on the Application. Nothing is read or written unless a trigger
// fired and notifications are configured.
func (n *Notifier) Observe(ctx context.Context, before, after *v1alpha1.Application, drift []application.Drift) {
	fired := Triggers(before.Status, after.Status, drift)
	if len(fired) == 0 {
		return
	}
	cfg, err := n.config(ctx)
	if err != nil {
		n.log.Info("notifications not sent: configuration unusable", "error", err.Error())
		return
	}
	if cfg == nil {
		return
	}
	notified := notifiedOf(after)
	changed := false
	for _, f := range fired {
		dests := cfg.Destinations(f.Trigger, after.Labels, after.Annotations)
		// Presence, not the value, says whether a key was told: an empty
		// key (no revision yet) is told once too.
		if last, seen := notified[f.Trigger]; len(dests) == 0 || seen && last == f.Key {
			continue
		}
		ev, err := notify.EventFor(after, f.Trigger, f.Message, f.Context)
		if err != nil {
			n.log.Info("notification not sent", "trigger", f.Trigger, "error", err.Error())
			continue
		}
		select {
		case n.jobs <- job{cfg: cfg, event: ev, dests: dests}:
			notified[f.Trigger], changed = f.Key, true // recorded once queued, so a dropped one is tried again
		default:
			n.log.Info("notification queue full; dropped", "application", types.NamespacedName{Namespace: after.Namespace, Name: after.Name}, "trigger", f.Trigger)
		}
	}
	if changed {
		n.record(ctx, after, notified)
	}
}

// config returns the parsed configuration; nil when the ConfigMap does not
// exist (notifications are off). It comes from the watch cache, parsed
// again only when it changed, so a push that fires triggers for many
// Applications costs no request; its warnings are logged once.
func (n *Notifier) config(ctx context.Context) (*notify.Config, error) {
	cfg, err := n.loader.Load(ctx)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if cfg != n.warned {
		n.warned = cfg
		for _, w := range cfg.Warnings {
			n.log.Info("notification configuration", "warning", w)
		}
	}
	return cfg, nil
}

func notifiedOf(app *v1alpha1.Application) map[string]string {
	out := map[string]string{}
	if v, ok := app.Annotations[NotifiedAnnotation]; ok {
		_ = json.Unmarshal([]byte(v), &out)
	}
	return out
}

// record writes the notified keys to the Application's annotation.
func (n *Notifier) record(ctx context.Context, app *v1alpha1.Application, notified map[string]string) {
	data, _ := json.Marshal(notified)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{NotifiedAnnotation: string(data)}}})
	target := &v1alpha1.Application{}
	target.Namespace, target.Name = app.Namespace, app.Name
	if err := n.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)); err != nil {
		n.log.Info("could not record notifications", "application", app.Name, "error", err.Error())
	}
	if app.Annotations == nil {
		app.Annotations = map[string]string{}
	}
	app.Annotations[NotifiedAnnotation] = string(data)
}

// Start delivers queued notifications until ctx ends (a controller-runtime
// Runnable; only the leader notifies).
func (n *Notifier) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-n.jobs:
			n.deliver(ctx, j)
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, j job) {
	for _, o := range n.sender.Deliver(ctx, j.cfg, j.event, j.dests) {
		n.metrics.Notified(j.event.Trigger, o.Destination.Service, o.Err == nil)
		if o.Err != nil {
			n.log.Info("notification failed", "trigger", j.event.Trigger, "service", o.Destination.Service, "error", o.Err.Error())
		}
	}
}
