package appset

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferrycd/ferry/internal/appset"
)

// reconcileError is an error typed by how it must be reported: the
// condition reason that names it, and whether it stalls the ApplicationSet.
//
// Stalled: the ApplicationSet is wrong (an invalid generator or template, a
// template rendering an invalid Application, an Application name owned by
// something else) or a cluster Secret does not parse. Retrying cannot fix
// it, so it is not retried: the condition says what is wrong, and the
// ApplicationSet runs again when it (its generation) or an input it watches
// changes: cluster Secrets, owned Applications, and, for git generators,
// pushes and the periodic poll.
//
// Retryable: the API server, the network, Git. It is returned to the
// workqueue, which retries with its capped exponential backoff.
type reconcileError struct {
	reason  string
	stalled bool
	err     error
}

func (e *reconcileError) Error() string { return e.err.Error() }

func (e *reconcileError) Unwrap() error { return e.err }

func stalled(reason string, err error) error {
	return &reconcileError{reason: reason, stalled: true, err: err}
}

func retryable(reason string, err error) error {
	return &reconcileError{reason: reason, err: err}
}

// generationError types an error of appset.Clusters or appset.Applications.
func generationError(err error) error {
	var spec *appset.SpecError
	var secret *appset.InvalidClusterSecretError
	switch {
	case errors.As(err, &secret):
		return stalled(ReasonInvalidClusterSecret, err)
	case errors.As(err, &spec):
		switch spec.Part {
		case appset.PartTemplate:
			return stalled(ReasonRenderTemplateParamsError, err)
		case appset.PartApplication:
			return stalled(ReasonApplicationValidationError, err)
		default:
			return stalled(ReasonApplicationGenerationFromParamsError, err)
		}
	default:
		// Reading Git (an *appset.InputError), listing cluster Secrets, or
		// the context ending.
		return retryable(ReasonApplicationGenerationFromParamsError, err)
	}
}

// classify returns err's condition reason and whether it stalls. An
// untyped error is retryable, with ReasonErrorOccurred.
func classify(err error) (reason string, isStalled bool) {
	var re *reconcileError
	if errors.As(err, &re) {
		return re.reason, re.stalled
	}
	return ReasonErrorOccurred, false
}

// result is what Reconcile returns for err, its outcome (already in
// status). A retryable error goes back to the workqueue (backoff); a
// stalled one does not: it is logged and not requeued. An ApplicationSet
// with git generators, stalled or not, runs again after gitRequeue, since
// what it reads may change without an announced push.
func result(ctx context.Context, err error, usesGit bool) (ctrl.Result, error) {
	if err != nil {
		reason, isStalled := classify(err)
		if !isStalled {
			return ctrl.Result{}, err
		}
		log.FromContext(ctx).Info("stalled until the ApplicationSet or an input changes", "reason", reason, "error", err.Error())
	}
	if usesGit {
		return ctrl.Result{RequeueAfter: gitRequeue}, nil
	}
	return ctrl.Result{}, nil
}
