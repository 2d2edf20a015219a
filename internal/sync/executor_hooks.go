package sync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// hookRun is a hook object created by this sync.
type hookRun struct {
	key      Key
	version  string
	phase    Phase
	policies []DeletePolicy
}

// startHook creates one hook object, annotated with the operation it
// belongs to. With BeforeHookCreation, an object of the same name left by
// an earlier sync is deleted first (and waited for), so the hook runs
// again; a hook with generateName gets a new name each time. When the
// execution resumes an operation, a run of the hook that operation already
// began is adopted instead (resumeHook). It returns what to wait on: nil
// for a hook that finished before and is not run again.
func (x *execution) startHook(ctx context.Context, t Task) (*waitee, error) {
	if x.opts.Resume != nil {
		if w, handled, err := x.resumeHook(ctx, t); handled || err != nil {
			return w, err
		}
	}
	obj := t.Object.DeepCopy()
	if x.opts.Operation != "" {
		annotations := obj.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[OperationAnnotation] = x.opts.Operation
		obj.SetAnnotations(annotations)
	}
	if obj.GetName() != "" && slices.Contains(t.DeletePolicies, BeforeHookCreation) {
		if err := x.e.deleteAndWait(ctx, obj, x.opts.WaveTimeout); err != nil {
			return nil, fmt.Errorf("%s hook %s: delete the previous run: %w", t.Phase, t.Key, err)
		}
	}
	action := Created
	if obj.GetName() == "" {
		if err := x.e.client.Create(ctx, obj, client.FieldOwner(FieldManager)); err != nil {
			return nil, fmt.Errorf("%s hook %s: create: %w", t.Phase, t.Key, err)
		}
	} else {
		before := obj.GetResourceVersion()
		if err := x.e.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
			return nil, fmt.Errorf("%s hook %s: apply: %w", t.Phase, t.Key, err)
		}
		if before != "" {
			action = Configured
		}
	}
	return x.running(t, obj, action, KeyOf(obj).String()+" "+string(action)), nil
}

// running records obj, the run of hook t, as Running: it is waited on, and
// deleted after the sync as its policy says.
func (x *execution) running(t Task, obj *unstructured.Unstructured, action Action, msg string) *waitee {
	k := KeyOf(obj)
	x.hooks = append(x.hooks, hookRun{key: k, version: obj.GetAPIVersion(), phase: t.Phase, policies: t.DeletePolicies})
	x.rec.record(Outcome{Key: k, Version: obj.GetAPIVersion(), Action: action, Message: msg,
		Phase: t.Phase, Wave: t.Wave, Hook: true, State: Running})
	return &waitee{key: k, version: obj.GetAPIVersion(), hook: true}
}

// hookState reads the end of a Job or Pod run; ok is false for other kinds.
func hookState(u *unstructured.Unstructured) (State, string, bool) {
	switch u.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["status"] != "True" {
				continue
			}
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			switch m["type"] {
			case "Complete":
				return Succeeded, "job completed", true
			case "Failed":
				return Failed, strings.TrimSpace(reason + ": " + msg), true
			}
		}
		return Running, "job running", true
	case schema.GroupKind{Kind: "Pod"}:
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		switch phase {
		case "Succeeded":
			return Succeeded, "pod succeeded", true
		case "Failed":
			reason, _, _ := unstructured.NestedString(u.Object, "status", "reason")
			msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
			return Failed, strings.TrimSpace("pod failed: " + reason + " " + msg), true
		}
		return Running, "pod " + strings.ToLower(cmp.Or(phase, "pending")), true
	}
	return "", "", false
}

// syncFail runs the SyncFail hooks after a failure, in wave order, and
// waits for them.
func (x *execution) syncFail(ctx context.Context, tasks []Task) error {
	for _, s := range group(tasks) {
		waitOn, err := x.apply(ctx, s)
		if err != nil {
			return err
		}
		if err := x.wait(ctx, s, waitOn); err != nil {
			return err
		}
	}
	return nil
}

// deleteHooks deletes the hooks this sync created whose delete policy asks
// for it: HookSucceeded ones that succeeded, HookFailed ones that failed.
// BeforeHookCreation hooks stay until the next sync runs them again. A hook
// that could not be deleted is reported in its outcome's message, not as a
// failed sync.
func (x *execution) deleteHooks(ctx context.Context) {
	for _, h := range x.hooks {
		state := x.rec.stateOf(h.key, h.phase)
		if !(state == Succeeded && slices.Contains(h.policies, HookSucceeded)) && !(state == Failed && slices.Contains(h.policies, HookFailed)) {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(h.version)
		u.SetKind(h.key.Kind)
		u.SetNamespace(h.key.Namespace)
		u.SetName(h.key.Name)
		// Background: a Job deleted with the API's default (orphan for
		// batch/v1) would leave its Pods behind.
		err := x.e.client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			x.rec.update(h.key, h.phase, state, fmt.Sprintf("could not delete the hook: %v", err))
		}
	}
}

// deleteAndWait deletes obj if it exists and waits until it is gone.
func (e *Executor) deleteAndWait(ctx context.Context, obj *unstructured.Unstructured, timeout time.Duration) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(obj.GroupVersionKind())
	u.SetNamespace(obj.GetNamespace())
	u.SetName(obj.GetName())
	err := e.client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := e.client.Get(ctx, client.ObjectKeyFromObject(u), u)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still there after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
