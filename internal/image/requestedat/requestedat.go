// Package requestedat is Flux's way to ask a controller to reconcile an
// object now: set the annotation reconcile.fluxcd.io/requestedAt to a new
// token; the controller, when it has acted on it, copies the token to
// status.lastHandledReconcileAt. The image controllers read requests with
// Pending; `ferry image scan|update`, and the registry webhook through the
// image controller, make them with Request.
package requestedat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
)

// Request asks for a reconcile of obj (only its namespace and name are
// read) and returns the token to wait for in its
// status.lastHandledReconcileAt. It is a merge patch of the annotation: no
// read first, no conflict with other writers. obj receives the patched
// object.
func Request(ctx context.Context, c client.Writer, obj client.Object) (string, error) {
	token := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{imagev1.ReconcileRequestAnnotation: token}}})
	if err != nil {
		return "", err
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return "", fmt.Errorf("request a reconcile of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return token, nil
}

// Pending returns the requested token when annotations ask for a reconcile
// not handled yet (handled is status.lastHandledReconcileAt).
func Pending(annotations map[string]string, handled string) (string, bool) {
	v, ok := annotations[imagev1.ReconcileRequestAnnotation]
	return v, ok && v != handled
}
