package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/health"
)

// waitee is an object a step waits on.
type waitee struct {
	key     Key
	version string
	hook    bool
}

// wait polls a step's objects until every one has succeeded (a resource is
// Healthy or Suspended, a hook finished), one has failed, the wave timeout
// passes or the sync is interrupted.
func (x *execution) wait(ctx context.Context, s Step, waitOn []waitee) error {
	deadline := time.Now().Add(x.opts.WaveTimeout)
	interval := 100 * time.Millisecond
	pending := waitOn
	for {
		var still []waitee
		var last string
		for _, w := range pending {
			state, msg, err := x.e.stateOf(ctx, w)
			if err != nil {
				return fmt.Errorf("%s wave %d: %w", s.Phase, s.Wave, err)
			}
			x.rec.update(w.key, s.Phase, state, msg)
			switch state {
			case Failed:
				what := w.key.String()
				if w.hook {
					what = string(s.Phase) + " hook " + what
				}
				return fmt.Errorf("%s wave %d: %s failed: %s", s.Phase, s.Wave, what, msg)
			case Running:
				still = append(still, w)
				last = fmt.Sprintf("%s: %s", w.key, msg)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		if reason := x.interrupted(ctx); reason != "" {
			return &InterruptedError{Reason: reason}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wave %d: not healthy within %s (%d waiting; %s)", s.Phase, s.Wave, x.opts.WaveTimeout, len(pending), last)
		}
		select {
		case <-ctx.Done():
			return &InterruptedError{Reason: ctx.Err().Error()}
		case <-time.After(interval):
		}
		interval = min(interval*2, time.Second)
	}
}

// stateOf reads one object from the API server and says how far it is. A
// resource (or a hook of a kind that does not run to completion) succeeds
// when Healthy or Suspended and fails when Degraded; a Job hook when it
// is Complete or Failed, a Pod hook when it Succeeded or Failed.
func (e *Executor) stateOf(ctx context.Context, w waitee) (State, string, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(w.version)
	u.SetKind(w.key.Kind)
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: w.key.Namespace, Name: w.key.Name}, u); err != nil {
		if apierrors.IsNotFound(err) && w.hook {
			// Read from the API server after it was created: the hook was
			// deleted since, as ttlSecondsAfterFinished: 0 does once it
			// finished. Waiting for it would only time out.
			return Succeeded, "hook object deleted after it started (ttlSecondsAfterFinished?)", nil
		}
		if apierrors.IsNotFound(err) {
			return Running, "not found yet", nil
		}
		return "", "", fmt.Errorf("get %s: %w", w.key, err)
	}
	if w.hook {
		if state, msg, ok := hookState(u); ok {
			return state, msg, nil
		}
	}
	h := health.Assess(u)
	switch h.Status {
	case health.Healthy, health.Suspended:
		return Succeeded, string(h.Status), nil
	case health.Degraded:
		return Failed, h.Message, nil
	}
	return Running, strings.TrimSpace(string(h.Status) + " " + h.Message), nil
}
