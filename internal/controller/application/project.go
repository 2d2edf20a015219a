package application

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/project"
	"github.com/ferrycd/ferry/internal/redact"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// ensureDefaultProject creates the "default" AppProject in the home
// namespace when it is missing, allowing everything as Argo CD's does, so
// Applications written for Argo CD's default project work unchanged. An
// existing one is left as its owner wrote it.
func (r *Reconciler) ensureDefaultProject(ctx context.Context) error {
	err := r.direct.Create(ctx, project.Default(r.opts.HomeNamespace))
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the default AppProject in %s: %w", r.opts.HomeNamespace, err)
	}
	return nil
}

// namespaceServed reports whether Applications in ns are this controller's:
// the home namespace, or one matching --application-namespaces.
func (r *Reconciler) namespaceServed(ns string) bool {
	return project.NamespaceServed(ns, r.opts.HomeNamespace, r.opts.ApplicationNamespaces)
}

// ignored remembers the Applications already told they are ignored, so
// each gets one event.
type ignored struct {
	mu   sync.Mutex
	uids map[types.UID]bool
}

// first reports whether uid is being ignored for the first time.
func (i *ignored) first(uid types.UID) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.uids == nil {
		i.uids = map[types.UID]bool{}
	}
	if i.uids[uid] {
		return false
	}
	i.uids[uid] = true
	return true
}

// ignore reports, once, that an Application in a namespace the controller
// does not serve is ignored. Its status is not touched: another controller
// may serve that namespace.
func (r *Reconciler) ignore(app *v1alpha1.Application) (reconcile.Result, error) {
	if r.ignoredApps.first(app.UID) {
		r.events.Eventf(app, nil, eventWarning, reasonNamespaceNotServed, actionCompare,
			"ignored: Applications in namespace %s are not reconciled (the controller serves %s and --application-namespaces %v)",
			app.Namespace, r.opts.HomeNamespace, r.opts.ApplicationNamespaces)
	}
	return reconcile.Result{}, nil
}

// projectOf reads the Application's AppProject from the home namespace
// (where Argo CD keeps projects, whatever the Application's namespace) and
// checks what the spec alone decides: that the project may be used from the
// Application's namespace, and its source repository.
func (r *Reconciler) projectOf(ctx context.Context, app *v1alpha1.Application) (*v1alpha1.AppProject, error) {
	name := project.NameOf(app)
	p := &v1alpha1.AppProject{}
	key := types.NamespacedName{Namespace: r.opts.HomeNamespace, Name: name}
	err := r.client.Get(ctx, key, p)
	if apierrors.IsNotFound(err) && name == project.DefaultName {
		// The default project is made at start, alongside the first
		// reconciles, so an Application can get here before it exists (or
		// after someone deleted it). Argo CD always has one: make it now
		// rather than report a missing project for a moment.
		if err := r.ensureDefaultProject(ctx); err != nil {
			return nil, err
		}
		err = r.direct.Get(ctx, key, p)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, appstate.Stall(appstate.ReasonInvalidSpec,
				fmt.Errorf("spec.project: AppProject %q not found in namespace %s", name, r.opts.HomeNamespace))
		}
		return nil, fmt.Errorf("read AppProject %s/%s: %w", r.opts.HomeNamespace, name, err)
	}
	if !project.AppNamespacePermitted(p, app.Namespace, r.opts.HomeNamespace) {
		return nil, refused(p, project.Violation{Rule: project.RuleSourceNamespaces,
			Message: fmt.Sprintf("application %s in namespace %s may not use project %q: the namespace is not among its sourceNamespaces", app.Name, app.Namespace, p.Name)})
	}
	for _, src := range appstate.Sources(app) {
		if !project.SourcePermitted(p, src.RepoURL) {
			return nil, refused(p, project.Violation{Rule: project.RuleSourceRepos,
				Message: fmt.Sprintf("repository %s is not permitted in project %q", redact.URL(src.RepoURL), p.Name)})
		}
	}
	return p, nil
}

// refused is a project's refusal as a stalled error: nothing is applied
// until the Application, its revision or the project changes.
func refused(p *v1alpha1.AppProject, vs ...project.Violation) error {
	return appstate.Stall(appstate.ReasonProjectRefused, &project.RefusedError{Project: p.Name, Violations: vs})
}

// checkDestination refuses a destination the project does not list, or a
// cluster registered for another project.
func checkDestination(p *v1alpha1.AppProject, app *v1alpha1.Application, dst *target) error {
	ns := app.Spec.Destination.Namespace
	if dst.project != "" && dst.project != p.Name {
		// A cluster Secret scoped to a project serves that project alone,
		// as a project-scoped repository Secret does.
		return refused(p, project.Violation{Rule: project.RuleDestinations,
			Message: fmt.Sprintf("cluster %s is registered for project %q, not %q", dst.server, dst.project, p.Name)})
	}
	if p.Spec.PermitOnlyProjectScopedClusters && dst.project != p.Name {
		return refused(p, project.Violation{Rule: project.RulePermitOnlyProjectScopedClusters,
			Message: fmt.Sprintf("cluster %s is not registered for project %q, which permits only its own clusters", dst.server, p.Name)})
	}
	if !project.DestinationPermitted(p, project.Destination{Server: dst.server, Name: dst.name, Namespace: ns}) {
		return refused(p, project.Violation{Rule: project.RuleDestinations,
			Message: fmt.Sprintf("destination server %q (name %q) and namespace %q do not match any of project %q's destinations", dst.server, dst.name, ns, p.Name)})
	}
	return nil
}

// checkObjects refuses every object a sync would create or update, hooks
// included, that the project does not permit: nothing of the revision is
// applied when one is refused. Scope is read from the prepared object: a
// namespaced object carries its namespace after preparation.
func checkObjects(p *v1alpha1.AppProject, dst *target, objs ...[]*unstructured.Unstructured) error {
	var all []project.Object
	for _, list := range objs {
		for _, o := range list {
			all = append(all, objectOf(fsync.KeyOf(o)))
		}
	}
	if vs := project.Check(p, project.Destination{Server: dst.server, Name: dst.name}, all); len(vs) > 0 {
		return &project.RefusedError{Project: p.Name, Violations: vs}
	}
	return nil
}

// prunePermit returns the planner's question for each prune: an object the
// project would not let the Application create is never deleted either.
func prunePermit(p *v1alpha1.AppProject, dst *target) func(fsync.Key) string {
	cl := project.Destination{Server: dst.server, Name: dst.name}
	return func(k fsync.Key) string {
		if v, ok := project.CheckObject(p, cl, objectOf(k)); !ok {
			return fmt.Sprintf("kept: project %q refuses it: %s", p.Name, v.String())
		}
		return ""
	}
}

func objectOf(k fsync.Key) project.Object {
	return project.Object{GroupKind: schema.GroupKind{Group: k.Group, Kind: k.Kind}, Namespace: k.Namespace, Name: k.Name, Namespaced: k.Namespace != ""}
}

// syncExecutor is the executor a sync runs with: the controller's own, or,
// when the project names destinationServiceAccounts, one impersonating the
// account for the destination. A project that names accounts but none for
// this destination refuses the sync rather than run it with the
// controller's power.
func syncExecutor(p *v1alpha1.AppProject, app *v1alpha1.Application, dst *target) (*fsync.Executor, error) {
	if len(p.Spec.DestinationServiceAccounts) == 0 {
		return dst.executor, nil
	}
	ns, name, ok, err := project.ServiceAccountFor(p, dst.server, app.Spec.Destination.Namespace)
	if err != nil {
		return nil, fmt.Errorf("AppProject %q spec.destinationServiceAccounts: %w", p.Name, err)
	}
	if !ok {
		return nil, &project.RefusedError{Project: p.Name, Violations: []project.Violation{{Rule: project.RuleDestinationServiceAccounts,
			Message: fmt.Sprintf("no destinationServiceAccounts entry of project %q matches server %s and namespace %q", p.Name, dst.server, app.Spec.Destination.Namespace)}}}
	}
	return dst.executorAs(ns, name)
}

// syncWindow asks the project's sync windows whether a sync may start now.
// A requested sync is manual; an automated one (and self-heal) is not.
func syncWindow(p *v1alpha1.AppProject, app *v1alpha1.Application, automated bool, now time.Time) (project.WindowDecision, error) {
	d, err := project.SyncWindowsAllow(p, app, !automated, now)
	if err != nil {
		return d, appstate.Stall(appstate.ReasonInvalidSpec, fmt.Errorf("AppProject %q spec.syncWindows: %w", p.Name, err))
	}
	return d, nil
}

// appsOfProject maps an AppProject change to its Applications.
func (r *Reconciler) appsOfProject(ctx context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() != r.opts.HomeNamespace {
		return nil
	}
	apps := &v1alpha1.ApplicationList{}
	if err := r.client.List(ctx, apps); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range apps.Items {
		a := &apps.Items[i]
		if project.NameOf(a) == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: appKey(a)})
		}
	}
	return out
}
