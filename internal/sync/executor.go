package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the server-side apply field manager Ferry applies as.
const FieldManager = "ferry"

// Action is what a sync did to one object, in Argo CD's result words.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
)

// Outcome is one object's result.
type Outcome struct {
	Key     Key
	Version string // API version applied
	Action  Action
	Message string
}

// Executor carries out plans with server-side apply. It applies CRDs,
// Namespaces and ClusterRoles first and waits until they are established,
// so objects that need them can follow in the same sync.
type Executor struct {
	client      client.Client
	rm          *ssa.ResourceManager
	concurrency int
}

// NewExecutor returns an executor that writes through c (which must read
// from the API server, not a cache) with up to concurrency requests at once.
func NewExecutor(c client.Client, mapper meta.RESTMapper, concurrency int) *Executor {
	rm := ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}), ssa.Owner{Field: FieldManager})
	rm.SetConcurrency(concurrency)
	return &Executor{client: c, rm: rm, concurrency: max(concurrency, 1)}
}

// Execute applies plan.Apply, then prunes plan.Prune. Pruning happens only
// when every apply succeeded, and only objects whose tracking annotation
// still names app are deleted (checked against the live object, with its UID
// as a precondition). The applied objects are updated in place with the
// server's response.
//
// report, when not nil, is called with each outcome as soon as it is known
// (concurrently: it must be safe for concurrent use), so a sync someone
// follows can show its progress.
func (e *Executor) Execute(ctx context.Context, app string, plan Plan, report func(Outcome)) ([]Outcome, error) {
	if plan.Refusal != "" {
		return nil, errors.New(plan.Refusal)
	}
	if report == nil {
		report = func(Outcome) {}
	}
	var outcomes []Outcome
	objects := plan.Objects()
	if !slices.ContainsFunc(objects, needsStage) && len(plan.Create) > 0 {
		// Nothing to order, so objects that do not exist yet are created
		// with one apply each; comparing them first would find nothing.
		created, err := e.create(ctx, plan.Create, report)
		outcomes = append(outcomes, created...)
		if err != nil {
			return outcomes, err
		}
		objects = plan.Apply
	}
	if len(objects) > 0 {
		opts := ssa.DefaultApplyOptions()
		opts.WaitInterval, opts.WaitTimeout = 500*time.Millisecond, time.Minute
		changes, err := e.rm.ApplyAllStaged(ctx, objects, opts)
		if changes != nil {
			applied := changeOutcomes(objects, changes)
			for _, o := range applied {
				report(o)
			}
			outcomes = append(outcomes, applied...)
		}
		if err != nil {
			return outcomes, fmt.Errorf("apply: %w", err)
		}
	}
	for _, k := range plan.Prune {
		msg, err := e.prune(ctx, app, k)
		if err != nil {
			return outcomes, err
		}
		o := Outcome{Key: k, Action: Pruned, Message: msg}
		report(o)
		outcomes = append(outcomes, o)
	}
	return outcomes, nil
}

// needsStage reports kinds that must exist before others can be applied:
// CRDs, Namespaces, ClusterRoles and class definitions, which the ssa
// package applies first and waits for.
func needsStage(obj *unstructured.Unstructured) bool {
	return utils.IsClusterDefinition(obj) || utils.IsClassDefinition(obj)
}

// create applies objects that do not exist, a few at a time, writing the
// server's response into them.
func (e *Executor) create(ctx context.Context, objs []*unstructured.Unstructured, report func(Outcome)) ([]Outcome, error) {
	outcomes := make([]Outcome, len(objs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(e.concurrency)
	for i, obj := range objs {
		g.Go(func() error {
			if err := e.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
				return fmt.Errorf("apply %s: %w", KeyOf(obj), err)
			}
			outcomes[i] = Outcome{Key: KeyOf(obj), Version: obj.GetAPIVersion(), Action: Created, Message: KeyOf(obj).String() + " created"}
			report(outcomes[i])
			return nil
		})
	}
	err := g.Wait()
	done := outcomes[:0]
	for _, o := range outcomes {
		if o.Action != "" {
			done = append(done, o)
		}
	}
	return done, err
}

func changeOutcomes(applied []*unstructured.Unstructured, changes *ssa.ChangeSet) []Outcome {
	versions := make(map[Key]string, len(applied))
	for _, o := range applied {
		versions[KeyOf(o)] = o.GetAPIVersion()
	}
	out := make([]Outcome, 0, len(changes.Entries))
	for _, c := range changes.Entries {
		k := Key{Group: c.ObjMetadata.GroupKind.Group, Kind: c.ObjMetadata.GroupKind.Kind, Namespace: c.ObjMetadata.Namespace, Name: c.ObjMetadata.Name}
		action := Unchanged
		switch c.Action {
		case ssa.CreatedAction:
			action = Created
		case ssa.ConfiguredAction:
			action = Configured
		}
		out = append(out, Outcome{Key: k, Version: versions[k], Action: action, Message: c.Subject + " " + string(c.Action)})
	}
	return out
}

// prune deletes one object if it is still owned by app.
func (e *Executor) prune(ctx context.Context, app string, k Key) (string, error) {
	live := &metav1.PartialObjectMetadata{}
	gvk, err := e.client.RESTMapper().RESTMapping(k.GroupKind())
	if err != nil {
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	live.SetGroupVersionKind(gvk.GroupVersionKind)
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return "already deleted", nil
		}
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk.GroupVersionKind)
	u.SetNamespace(k.Namespace)
	u.SetName(k.Name)
	u.SetAnnotations(live.GetAnnotations())
	if owner, ok := Owner(u); !ok || owner != app {
		return "skipped: no longer owned by this application", nil
	}
	uid := live.GetUID()
	err = e.client.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	return "pruned", nil
}

// EnsureNamespace creates the destination namespace if it does not exist
// (syncOptions CreateNamespace=true). It is not tracked, so it is never
// pruned, as in Argo CD.
func (e *Executor) EnsureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{}
	err := e.client.Get(ctx, client.ObjectKey{Name: name}, ns)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err := e.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
