package appview

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// refreshAnnotation asks the controller to compare now; it removes the
// annotation when done.
const refreshAnnotation = "argocd.argoproj.io/refresh"

// getApplication reads one Application.
func getApplication(ctx context.Context, c client.Reader, key types.NamespacedName) (*v1alpha1.Application, error) {
	app := &v1alpha1.Application{}
	if err := c.Get(ctx, key, app); err != nil {
		return nil, fmt.Errorf("get application %s: %w", key, err)
	}
	return app, nil
}

// StartOperation writes op into the Application, as Argo CD's API server
// does; the controller runs it. It refuses when another operation is
// pending or running, or when the project's sync windows block a sync now
// (WindowAllows). The controller writes status all the time: a write
// between the read and the patch is a conflict, read again and retried.
func StartOperation(ctx context.Context, c client.Client, key types.NamespacedName, op v1alpha1.Operation) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		app, err := getApplication(ctx, c, key)
		if err != nil {
			return err
		}
		if app.Operation != nil {
			return errors.New("another operation is already in progress")
		}
		if err := WindowAllows(ctx, c, app); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
		app.Operation = &op
		if err := c.Patch(ctx, app, patch); err != nil {
			return fmt.Errorf("start the operation on %s: %w", key, err) // IsConflict sees through %w
		}
		return nil
	})
}

// Terminate stops the running operation as argocd app terminate-op does:
// it sets status.operationState.phase to Terminating, which the controller
// checks between steps and while it waits on a wave. With an optimistic
// lock: an operation that finished in between is not marked; a progress
// report written in between is retried over.
func Terminate(ctx context.Context, c client.Client, key types.NamespacedName) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		app, err := getApplication(ctx, c, key)
		if err != nil {
			return err
		}
		if st := app.Status.OperationState; st == nil || st.Phase != v1alpha1.OperationRunning {
			return fmt.Errorf("application %s has no operation in progress", key)
		}
		patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
		app.Status.OperationState.Phase = v1alpha1.OperationTerminating
		return c.Status().Patch(ctx, app, patch)
	})
	if err != nil {
		return fmt.Errorf("terminate the operation of %s: %w", key, err)
	}
	return nil
}

// Refresh asks the controller to compare the Application now: mode
// "normal", or "hard" to also drop cached renders. It does not wait
// (WaitRefreshed does).
func Refresh(ctx context.Context, c client.Client, key types.NamespacedName, mode string) error {
	if mode != "normal" && mode != "hard" {
		return fmt.Errorf("refresh application %s: mode %q: want normal or hard", key, mode)
	}
	app := &v1alpha1.Application{}
	app.Namespace, app.Name = key.Namespace, key.Name
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, refreshAnnotation, mode))
	if err := c.Patch(ctx, app, patch); err != nil {
		return fmt.Errorf("refresh application %s: %w", key, err)
	}
	return nil
}

// WaitRefreshed waits until the controller has handled a Refresh (it
// removes the annotation), at most a minute.
func WaitRefreshed(ctx context.Context, c client.Client, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		app := &v1alpha1.Application{}
		if err := c.Get(ctx, key, app); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("refresh application %s: %w", key, err)
		}
		return app.Annotations[refreshAnnotation] == "", nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("refresh application %s: the controller did not handle it within a minute (is it running?)", key)
	}
	return err
}

// DisableAutoSync turns the Application's automated sync off (before a
// rollback, which automated sync would undo at once).
func DisableAutoSync(ctx context.Context, c client.Client, app *v1alpha1.Application) error {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"syncPolicy":{"automated":null}}}`))
	if err := c.Patch(ctx, app, patch); err != nil {
		return fmt.Errorf("disable auto-sync of %s: %w", client.ObjectKeyFromObject(app), err)
	}
	return nil
}
