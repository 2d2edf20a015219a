package sync

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// prune deletes a prune step's objects, in order. A delete that fails (an
// admission policy or webhook denies it, the API server refuses it) does not
// stop the others: as in Argo CD, which prunes each object of a wave on its
// own, every prune of the step is attempted. A failed one is reported
// SyncFailed with the server's message, and the step fails naming every
// failure, so later steps do not run and the sync is retried. Stopping at
// the first failure would leave behind objects that could be deleted, for
// the sake of one that cannot.
func (x *execution) prune(ctx context.Context, s Step) error {
	var failed []string
	for _, t := range s.Tasks {
		msg, err := x.e.prune(ctx, x.app, t.Key)
		if err != nil {
			if ctx.Err() != nil {
				return err // stopping: the rest would fail the same way
			}
			x.rec.record(Outcome{Key: t.Key, Action: SyncFailed, Message: err.Error(), Phase: s.Phase, Wave: s.Wave})
			failed = append(failed, err.Error())
			continue
		}
		x.rec.record(Outcome{Key: t.Key, Action: Pruned, Message: msg, Phase: s.Phase, Wave: s.Wave})
	}
	if len(failed) > 0 {
		// One line, as operationState.message is shown.
		return fmt.Errorf("%s wave %d: %s", s.Phase, s.Wave, strings.Join(failed, "; "))
	}
	return nil
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
