package sync

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OperationAnnotation, on a hook object, names the sync operation that
// created it (ExecOptions.Operation). An execution that resumes that
// operation, after the process running it was stopped mid-sync, finds the
// hook's run by it and waits on that run instead of starting another: a
// PreSync migration Job runs once per operation, however often the
// controller restarts. Argo CD keeps the same promise by reading hook
// states back from operationState; the annotation also covers a hook
// created just before the process died, before any status write said so.
const OperationAnnotation = "sync.ferry.dev/operation"

// Resume is what an earlier, unfinished execution of the same operation
// reported before its process stopped.
type Resume struct {
	// Hooks are the hook outcomes it reported, under the names the hook
	// objects were created with (a generateName hook's generated name).
	Hooks []Outcome
}

// earlier returns the earlier run's outcome for hook task t.
func (r *Resume) earlier(t Task) (Outcome, bool) {
	generated := t.Object.GetName() == ""
	for _, o := range r.Hooks {
		k := o.Key
		if o.Phase != t.Phase || k.Group != t.Key.Group || k.Kind != t.Key.Kind || k.Namespace != t.Key.Namespace {
			continue
		}
		if k.Name == t.Key.Name || (generated && strings.HasPrefix(k.Name, t.Object.GetGenerateName())) {
			return o, true
		}
	}
	return Outcome{}, false
}

// resumeHook looks for the run of hook t that the resumed operation began.
// A live object carrying the operation's annotation is adopted (its
// outcome's action is Unchanged: nothing was created): the execution waits
// on it (and deletes it by its policy afterwards). A hook the earlier run
// reported Succeeded whose object is gone (deleted by its policy or a TTL)
// is not run again; one it reported Failed fails the step. handled is false when the earlier run never started t: it runs
// now; otherwise w is what to wait on (nil: nothing).
func (x *execution) resumeHook(ctx context.Context, t Task) (w *waitee, handled bool, err error) {
	earlier, found := x.opts.Resume.earlier(t)
	name := t.Object.GetName()
	if name == "" && found {
		name = earlier.Key.Name
	}
	if name != "" {
		live := &unstructured.Unstructured{}
		live.SetAPIVersion(t.Object.GetAPIVersion())
		live.SetKind(t.Object.GetKind())
		err := x.e.client.Get(ctx, client.ObjectKey{Namespace: t.Key.Namespace, Name: name}, live)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, false, fmt.Errorf("%s hook %s: look for the run the operation began: %w", t.Phase, t.Key, err)
		}
		if err == nil && x.opts.Operation != "" && live.GetAnnotations()[OperationAnnotation] == x.opts.Operation {
			msg := KeyOf(live).String() + " started by this operation before the controller restarted: waiting on that run"
			return x.running(t, live, Unchanged, msg), true, nil
		}
	}
	if !found {
		return nil, false, nil
	}
	switch earlier.State {
	case Succeeded:
		o := earlier
		o.Wave, o.Hook, o.Action = t.Wave, true, Unchanged
		o.Message = earlier.Key.String() + " succeeded before the controller restarted: not run again"
		x.rec.record(o)
		return nil, true, nil
	case Failed:
		return nil, true, fmt.Errorf("%s wave %d: %s hook %s failed before the controller restarted: %s",
			t.Phase, t.Wave, t.Phase, earlier.Key, earlier.Message)
	}
	// Reported Running, but its object is gone or belongs to another
	// operation: nothing of that run is left to wait on.
	return nil, false, nil
}
