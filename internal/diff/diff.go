package diff

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	"github.com/fluxcd/pkg/ssa/utils"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/redact"
)

// State is a resource's sync status, in Argo CD's words.
type State string

const (
	Synced    State = "Synced"
	OutOfSync State = "OutOfSync"
)

// Result is the comparison of one desired object with its live object.
type Result struct {
	State State
	// Missing is set when the live object does not exist.
	Missing bool
	// Live is the live object as read (nil when missing), with Secret data
	// masked. Callers use it for health and change detection.
	Live *unstructured.Unstructured
	// Predicted is what the live object would become if synced: the
	// dry-run result, or the desired object when missing; Secret data
	// masked.
	Predicted *unstructured.Unstructured
}

// Differ compares objects through the API server. Its client must read from
// the server, not a cache: a stale live object would hide or invent drift.
//
// Cache, when set, is a watch cache of the same cluster. The live object
// is then taken from it when it holds the very version the dry-run was
// computed on (the dry-run result names it), which saves a read per
// object: a comparison costs one request, the dry-run. An object the cache
// does not hold, holds at another version, or whose comparison needs its
// managedFields (which the cache drops) is read from the server.
type Differ struct {
	Client       client.Client
	Cache        client.Reader
	FieldManager string
}

// Diff compares desired with its live object.
func (d *Differ) Diff(ctx context.Context, desired *unstructured.Unstructured, ig *Ignorer) (Result, error) {
	// The live object is read, then the dry-run computed: a controller that
	// writes the object in between (the Deployment controller annotating a
	// new Deployment) would show as drift. The dry-run result carries the
	// resourceVersion it was computed on; when it is not the one read, read
	// again.
	for attempt := 0; ; attempt++ {
		res, racing, err := d.diffOnce(ctx, desired, ig)
		if err != nil || !racing || attempt == 4 {
			return res, err
		}
	}
}

func (d *Differ) diffOnce(ctx context.Context, desired *unstructured.Unstructured, ig *Ignorer) (Result, bool, error) {
	if live := d.cached(ctx, desired, ig); live != nil {
		predicted := desired.DeepCopy()
		if err := d.dryRun(ctx, predicted); err != nil {
			return Result{}, false, err
		}
		if predicted.GetResourceVersion() == live.GetResourceVersion() {
			res, err := result(live, predicted, ig)
			return res, false, err
		}
		// The cache lags behind the server: read it.
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	err := d.Client.Get(ctx, client.ObjectKeyFromObject(desired), live)
	if apierrors.IsNotFound(err) {
		// What a sync would create: the desired object itself.
		res := Result{State: OutOfSync, Missing: true, Predicted: desired.DeepCopy()}
		if utils.IsSecret(desired) {
			if err := maskSecret(nil, res.Predicted); err != nil {
				return Result{}, false, fmt.Errorf("mask %s: %w", describe(desired), err)
			}
		}
		return res, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("get %s: %w", describe(desired), err)
	}
	predicted := desired.DeepCopy()
	if err := d.dryRun(ctx, predicted); err != nil {
		return Result{}, false, err
	}
	if predicted.GetResourceVersion() != live.GetResourceVersion() {
		return Result{}, true, nil
	}
	res, err := result(live, predicted, ig)
	return res, false, err
}

// cached returns the cache's copy of desired's live object, or nil when
// there is no cache, it holds none, or the comparison needs managedFields.
func (d *Differ) cached(ctx context.Context, desired *unstructured.Unstructured, ig *Ignorer) *unstructured.Unstructured {
	if d.Cache == nil || ig.readsManagedFields(desired) {
		return nil
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	if err := d.Cache.Get(ctx, client.ObjectKeyFromObject(desired), live); err != nil {
		return nil
	}
	return live
}

// dryRun replaces obj with what a forced server-side apply of it would
// make.
func (d *Differ) dryRun(ctx context.Context, obj *unstructured.Unstructured) error {
	secrets := redact.SecretValues(obj)
	if err := d.Client.Patch(ctx, obj, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(d.FieldManager)); err != nil {
		return fmt.Errorf("dry-run apply %s: %w", describe(obj), redact.Values(err, secrets))
	}
	return nil
}

// result compares live with the dry-run's predicted object, masking a
// Secret's values in both.
func result(live, predicted *unstructured.Unstructured, ig *Ignorer) (Result, error) {
	equal, err := Equal(live, predicted, ig)
	if err != nil {
		return Result{}, fmt.Errorf("compare %s: %w", describe(predicted), err)
	}
	res := Result{State: Synced, Live: live, Predicted: predicted}
	if !equal {
		res.State = OutOfSync
	}
	if utils.IsSecret(predicted) {
		if err := maskSecret(res.Live, res.Predicted); err != nil {
			return Result{}, fmt.Errorf("mask %s: %w", describe(predicted), err)
		}
	}
	return res, nil
}

// lastApplied is kubectl's copy of what it last applied: for a Secret, its
// values in clear.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maskSecret hides a Secret's values in live and predicted (either may be
// nil): data through fluxcd/pkg/ssa (which marks changed keys "*** (before)"
// / "*** (after)"), and what it leaves in clear — stringData, which a Secret
// not created yet still carries, and kubectl's last-applied annotation.
func maskSecret(live, predicted *unstructured.Unstructured) error {
	if err := ssa.SanitizeUnstructuredData(live, predicted); err != nil {
		return err
	}
	for _, obj := range []*unstructured.Unstructured{live, predicted} {
		if obj == nil {
			continue
		}
		if sd, ok, _ := unstructured.NestedMap(obj.Object, "stringData"); ok {
			for k := range sd {
				sd[k] = "***"
			}
			if err := unstructured.SetNestedMap(obj.Object, sd, "stringData"); err != nil {
				return err
			}
		}
		if a := obj.GetAnnotations(); a[lastApplied] != "" {
			a[lastApplied] = "***"
			obj.SetAnnotations(a)
		}
	}
	return nil
}

// Equal reports whether live and predicted agree on everything Ferry
// compares: labels, annotations, and the whole object but metadata and
// status, after the ignore rules (fields owned by ignored field managers are
// found in live's managedFields).
func Equal(live, predicted *unstructured.Unstructured, ig *Ignorer) (bool, error) {
	owned, err := ig.managedPaths(live)
	if err != nil {
		return false, err
	}
	a, err := comparable(live, ig, owned)
	if err != nil {
		return false, err
	}
	b, err := comparable(predicted, ig, owned)
	if err != nil {
		return false, err
	}
	return apiequality.Semantic.DeepEqual(a.Object, b.Object), nil
}

func comparable(obj *unstructured.Unstructured, ig *Ignorer, owned [][]any) (*unstructured.Unstructured, error) {
	c := obj.DeepCopy()
	removePaths(c, owned)
	labels, annotations := c.GetLabels(), c.GetAnnotations()
	unstructured.RemoveNestedField(c.Object, "metadata")
	unstructured.RemoveNestedField(c.Object, "status")
	if len(labels) > 0 {
		c.SetLabels(labels)
	}
	if len(annotations) > 0 {
		c.SetAnnotations(annotations)
	}
	if err := normalize.DryRunUnstructured(c); err != nil {
		return nil, err
	}
	if err := ig.Strip(c); err != nil {
		return nil, err
	}
	return c, nil
}

func describe(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return fmt.Sprintf("%s %s", obj.GetKind(), obj.GetName())
}
