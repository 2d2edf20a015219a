package sync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/redact"
)

// apply applies a step's resources, then creates its hooks, and returns
// what to wait on: the live keys (a hook with generateName gets its name
// now) and API versions, in task order.
func (x *execution) apply(ctx context.Context, s Step) ([]waitee, error) {
	var objs []*unstructured.Unstructured
	var hooks []Task
	for _, t := range s.Tasks {
		if t.Hook {
			hooks = append(hooks, t)
		} else {
			objs = append(objs, t.Object)
		}
	}
	var waitOn []waitee
	if len(objs) > 0 {
		if err := x.applyResources(ctx, s, objs); err != nil {
			return nil, err
		}
		for _, o := range objs {
			waitOn = append(waitOn, waitee{key: KeyOf(o), version: o.GetAPIVersion()})
		}
	}
	for _, t := range hooks {
		w, err := x.startHook(ctx, t)
		if err != nil {
			return nil, err
		}
		if w != nil {
			waitOn = append(waitOn, *w)
		}
	}
	return waitOn, nil
}

// applyResources applies a step's ordinary objects. When nothing in the
// step needs staging, objects that do not exist yet are created with one
// apply each (comparing them first would find nothing), and existing ones
// whose resourceVersion the comparison saw are applied with one apply each
// too: the server's response says whether anything changed (a server-side
// apply that changes nothing is not written, and keeps the version), and
// is what the object now is. Only the rest are compared first (a get and a
// dry-run each, by the ssa package), then applied if they differ.
func (x *execution) applyResources(ctx context.Context, s Step, objs []*unstructured.Unstructured) error {
	tag := func(o Outcome) Outcome {
		o.Phase, o.Wave = s.Phase, s.Wave
		return o
	}
	if !slices.ContainsFunc(objs, needsStage) {
		var direct, rest []*unstructured.Unstructured
		for _, o := range objs {
			if x.create[o] || x.seen[KeyOf(o)] != "" {
				direct = append(direct, o)
			} else {
				rest = append(rest, o)
			}
		}
		if err := x.applyDirect(ctx, direct, func(o Outcome) { x.rec.record(tag(o)) }); err != nil {
			return err
		}
		objs = rest
	}
	if len(objs) == 0 {
		return nil
	}
	opts := ssa.DefaultApplyOptions()
	opts.WaitInterval, opts.WaitTimeout = 500*time.Millisecond, time.Minute
	changes, err := x.e.rm.ApplyAllStaged(ctx, objs, opts)
	if changes != nil {
		for _, o := range changeOutcomes(objs, changes) {
			x.rec.record(tag(o))
		}
	}
	if err != nil {
		var values []string
		for _, o := range objs {
			values = append(values, redact.SecretValues(o)...)
		}
		return fmt.Errorf("%s wave %d: apply: %w", s.Phase, s.Wave, redact.Values(err, values))
	}
	return nil
}

// needsStage reports kinds that must exist before others can be applied:
// CRDs, Namespaces, ClusterRoles and class definitions, which the ssa
// package applies first and waits for.
func needsStage(obj *unstructured.Unstructured) bool {
	return utils.IsClusterDefinition(obj) || utils.IsClassDefinition(obj)
}

// directResult is what a direct apply of obj did, from the server's
// response in obj: created when the comparison found it missing, else
// configured when its version moved from the one the comparison saw, and
// unchanged when not.
func (x *execution) directResult(obj *unstructured.Unstructured) (Action, string) {
	if x.create[obj] {
		return Created, KeyOf(obj).String() + " created"
	}
	action := Configured
	if obj.GetResourceVersion() == x.seen[KeyOf(obj)] {
		action = Unchanged
	}
	return action, utils.FmtUnstructured(obj) + " " + string(action)
}

// applyDirect applies objects a few at a time with one server-side apply
// each, writing the server's response into them, and reports what each
// apply did (directResult).
func (x *execution) applyDirect(ctx context.Context, objs []*unstructured.Unstructured, report func(Outcome)) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(x.e.concurrency)
	for _, obj := range objs {
		g.Go(func() error {
			k := KeyOf(obj)
			if err := x.e.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
				// The API server quotes invalid values; a Secret's are secrets.
				err = redact.Values(err, redact.SecretValues(obj))
				report(Outcome{Key: k, Version: obj.GetAPIVersion(), Action: SyncFailed, Message: err.Error()})
				return fmt.Errorf("apply %s: %w", k, err)
			}
			action, msg := x.directResult(obj)
			report(Outcome{Key: k, Version: obj.GetAPIVersion(), Action: action, Message: msg})
			return nil
		})
	}
	return g.Wait()
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
