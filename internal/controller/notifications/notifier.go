// Package notifications turns what the Application controller observes into
// notifications, as Argo CD's notifications controller does: after each
// reconcile (and when a sync starts) it evaluates the triggers subscribed
// for the Application against it (internal/notify, with Argo CD's
// notifications engine), records what it told in the Application's
// annotation notified.notifications.argoproj.io, and delivers in the
// background. internal/notify holds what `ferry notify` shares with it:
// loading the configuration, evaluating, rendering and sending.
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
	"github.com/ferrycd/ferry/internal/project"
	"github.com/ferrycd/ferry/internal/source"
)

// legacyAnnotation is where Ferry recorded notifications before it kept
// Argo CD's annotation; Observe removes it.
const legacyAnnotation = "notified.notifications.ferry.dev"

// DriftOf describes a reconcile's drift for on-drift-detected: the changed
// objects, the field managers that wrote them last, and a key (the
// revision and the objects' resourceVersions) so each change is told once.
func DriftOf(rev string, drift []application.Drift) *notify.Drift {
	if len(drift) == 0 {
		return nil
	}
	d := &notify.Drift{}
	var versions []string
	for _, x := range drift {
		d.Objects = append(d.Objects, x.Key.String())
		versions = append(versions, x.Key.String()+"@"+x.ResourceVersion)
		if x.Manager != "" && !slices.Contains(d.Managers, x.Manager) {
			d.Managers = append(d.Managers, x.Manager)
		}
	}
	sort.Strings(versions)
	d.Key = rev + "|" + strings.Join(versions, ",")
	return d
}

// CommitInfo reads a commit of a repository (the controller's Git cache).
type CommitInfo func(ctx context.Context, repoURL, sha string) (notify.CommitMetadata, error)

// GitCommits serves CommitInfo from the controller's Git cache (tags are
// not listed: Ferry's cache keeps none per commit).
func GitCommits(c *source.Cache) CommitInfo {
	return func(ctx context.Context, repoURL, sha string) (notify.CommitMetadata, error) {
		info, err := c.CommitInfo(ctx, repoURL, sha)
		if err != nil {
			return notify.CommitMetadata{}, err
		}
		return notify.CommitMetadata{Message: info.Message, Author: info.Author, Date: info.Time}, nil
	}
}

// Notifier implements application.Notifier.
type Notifier struct {
	client  client.Client  // writes to the API server
	loader  *notify.Loader // reads the home namespace's ConfigMap and Secret from a watch cache
	sender  *notify.Sender
	metrics *metrics.Metrics
	log     logr.Logger
	jobs    chan job
	commits CommitInfo // serves repo.GetCommitMetadata; nil: unavailable

	mu      sync.Mutex
	warned  *notify.Config      // the configuration whose warnings were logged
	told    map[string]struct{} // evaluation errors logged for warned
	written map[types.UID]string
	// written holds the annotation value this process last wrote per
	// Application until the watch cache shows it: the next reconcile may
	// read the Application before that write arrives, and must not tell
	// again what it recorded. After a restart the annotation is read.
	failed map[types.UID][]string // state keys whose delivery failed, to forget at the next evaluation
}

type job struct {
	cfg       *notify.Config
	event     notify.Event
	templates []string
	dest      notify.Destination
	app       appID
	key       string // the state entry recording it
}

// New returns a notifier reading its configuration from namespace home
// through reader (a watch cache), writing through c, and sending through
// httpc (nil: a default client). commits serves repo.GetCommitMetadata in
// `when:` expressions and templates (nil: it fails).
func New(c client.Client, reader client.Reader, home string, httpc *http.Client, commits CommitInfo, m *metrics.Metrics, log logr.Logger) *Notifier {
	return &Notifier{client: c, loader: &notify.Loader{Reader: reader, Namespace: home}, sender: &notify.Sender{Client: httpc},
		metrics: m, log: log, jobs: make(chan job, 1024), commits: commits}
}

// Observe implements application.Notifier: it evaluates the triggers
// subscribed for app against it, queues what became true, and records it
// on the Application. Nothing is written unless something was told or a
// condition stopped holding; nothing is read from the API server (the
// configuration comes from a watch cache).
func (n *Notifier) Observe(ctx context.Context, app *v1alpha1.Application, drift []application.Drift) {
	cfg, err := n.config(ctx)
	if err != nil {
		n.log.Info("notifications not sent: configuration unusable", "error", err.Error())
		return
	}
	if cfg == nil {
		return
	}
	subs := cfg.Subscriptions(app.Labels, app.Annotations)
	if len(subs) == 0 {
		return
	}
	rev := app.Status.Sync.Revision
	if rev == "" && len(app.Status.Sync.Revisions) > 0 {
		rev = app.Status.Sync.Revisions[0]
	}
	ev, err := notify.EventFor(app, DriftOf(rev, drift))
	if err != nil {
		n.log.Info("notifications not evaluated", "error", err.Error())
		return
	}
	ev.Commits = n.commitsFor(ctx, app)
	st := notify.StateOf(n.annotationsOf(app))
	n.retryFailed(app, st)
	sends, _, errs := cfg.Evaluate(ev, subs, st)
	n.logOnce(cfg, app, errs)
	_, legacy := app.Annotations[legacyAnnotation]
	_, current := app.Annotations[NotifiedAnnotationKey]
	seed := legacy && !current
	if seed && len(sends) > 0 {
		// Notified by a Ferry that kept its own annotation: what holds now
		// was told then, or deliberately not; recorded, not sent again.
		n.log.Info("notifications: first evaluation since the upgrade; conditions that hold are recorded, not sent",
			"application", types.NamespacedName{Namespace: app.Namespace, Name: app.Name}, "count", len(sends))
		sends = nil
	}
	id := appID{key: types.NamespacedName{Namespace: app.Namespace, Name: app.Name}, uid: app.UID, project: project.NameOf(app)}
	for _, s := range sends {
		select {
		case n.jobs <- job{cfg: cfg, event: ev.For(s.Trigger), templates: s.Templates, dest: s.Destination, app: id, key: s.Key}:
		default:
			// Not recorded: told at a later reconcile instead.
			st.Forget(s.Key)
			n.log.Info("notification queue full; will try again", "application", id.key, "trigger", s.Trigger)
		}
	}
	if st.Changed() || legacy {
		n.record(ctx, app, st.Annotation())
	}
}

// appID names the Application a job is for.
type appID struct {
	key     types.NamespacedName
	uid     types.UID
	project string
}

// commitsFor serves repo.GetCommitMetadata for app, with its project's
// scoped credentials, as a sync reads them.
func (n *Notifier) commitsFor(ctx context.Context, app *v1alpha1.Application) notify.CommitLookup {
	return n.commitsIn(ctx, project.NameOf(app))
}

func (n *Notifier) commitsIn(ctx context.Context, proj string) notify.CommitLookup {
	if n.commits == nil {
		return nil
	}
	pctx := source.WithProject(ctx, proj)
	return func(repoURL, sha string) (notify.CommitMetadata, error) { return n.commits(pctx, repoURL, sha) }
}

// retryFailed forgets, in st, what could not be delivered to app, so this
// evaluation tells it again (Argo CD's rule: a failed send is not recorded).
func (n *Notifier) retryFailed(app *v1alpha1.Application, st *notify.State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, key := range n.failed[app.UID] {
		st.Forget(key)
	}
	delete(n.failed, app.UID)
}

// annotationsOf is app's annotations with the notified annotation as this
// process last wrote it, until the watch cache shows that write.
func (n *Notifier) annotationsOf(app *v1alpha1.Application) map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.written[app.UID]
	if !ok {
		return app.Annotations
	}
	if app.Annotations[NotifiedAnnotationKey] == v {
		delete(n.written, app.UID) // caught up
		return app.Annotations
	}
	return map[string]string{NotifiedAnnotationKey: v}
}

// remember records the annotation value written for app, until the cache
// shows it (annotationsOf).
func (n *Notifier) remember(app *v1alpha1.Application, value string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.written == nil {
		n.written = map[types.UID]string{}
	}
	n.written[app.UID] = value
}

// logOnce logs evaluation errors (a subscription to an undefined trigger)
// once per configuration.
func (n *Notifier) logOnce(cfg *notify.Config, app *v1alpha1.Application, errs []error) {
	if len(errs) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, err := range errs {
		if _, seen := n.told[err.Error()]; seen || cfg != n.warned {
			continue
		}
		n.told[err.Error()] = struct{}{}
		n.log.Info("notification subscription", "application", types.NamespacedName{Namespace: app.Namespace, Name: app.Name}, "warning", err.Error())
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
		n.warned, n.told = cfg, map[string]struct{}{}
		for _, w := range cfg.Warnings {
			n.log.Info("notification configuration", "warning", w)
		}
	}
	return cfg, nil
}

// record writes what was told to the Application's annotation (removing
// it when nothing is recorded, and the legacy one).
func (n *Notifier) record(ctx context.Context, app *v1alpha1.Application, value string) {
	annotations := map[string]any{NotifiedAnnotationKey: value, legacyAnnotation: nil}
	if value == "" {
		annotations[NotifiedAnnotationKey] = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	target := &v1alpha1.Application{}
	target.Namespace, target.Name = app.Namespace, app.Name
	if err := n.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		n.log.Info("could not record notifications", "application", app.Name, "error", err.Error())
	}
	n.remember(app, value)
	if app.Annotations == nil {
		app.Annotations = map[string]string{}
	}
	delete(app.Annotations, legacyAnnotation)
	if value == "" {
		delete(app.Annotations, NotifiedAnnotationKey)
	} else {
		app.Annotations[NotifiedAnnotationKey] = value
	}
}

// NotifiedAnnotationKey is Argo CD's annotation recording what was told.
const NotifiedAnnotationKey = notify.NotifiedAnnotation

// NeedLeaderElection is false: the notifier serves the Application
// controller wherever it runs (on the leader alone, or, sharded, on every
// replica for the Applications it owns — one replica each, so one
// notification per event either way).
func (n *Notifier) NeedLeaderElection() bool { return false }

// Start delivers queued notifications until ctx ends (a controller-runtime
// Runnable).
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
	j.event.Commits = n.commitsIn(ctx, j.app.project) // the delivery's context, not the reconcile's
	failed := false
	for _, o := range n.sender.Deliver(ctx, j.cfg, j.event, j.templates, []notify.Destination{j.dest}) {
		n.metrics.Notified(j.event.Trigger, o.Destination.Service, o.Err == nil)
		if o.Err != nil {
			failed = true
			n.log.Info("notification failed; told again at the next reconcile", "application", j.app.key, "trigger", j.event.Trigger,
				"service", o.Destination.Service, "error", o.Err.Error())
		}
	}
	if failed {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.failed == nil {
			n.failed = map[types.UID][]string{}
		}
		n.failed[j.app.uid] = append(n.failed[j.app.uid], j.key)
	}
}
