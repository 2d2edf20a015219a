package appstate

import (
	"errors"

	"github.com/ferrycd/ferry/internal/render"
)

// Reason is why a reconcile could not go on, as a CamelCase word for
// conditions, events and logs.
type Reason string

// Reasons of stalled reconciles: each needs a change to the Application or
// to its source before trying again helps.
const (
	// ReasonInvalidSpec: the Application's spec cannot work (no source, a
	// bad ignoreDifferences rule, an unknown project).
	ReasonInvalidSpec Reason = "InvalidSpec"
	// ReasonDestinationNotRegistered: the destination names no registered
	// cluster.
	ReasonDestinationNotRegistered Reason = "DestinationNotRegistered"
	// ReasonRenderFailed: the revision does not render (broken YAML, a
	// kustomization error, a render limit or timeout). The same revision
	// renders the same way, so it is not rendered again.
	ReasonRenderFailed Reason = "RenderFailed"
	// ReasonProjectRefused: the Application's project does not permit its
	// namespace, repository or destination.
	ReasonProjectRefused Reason = "ProjectRefused"
	// ReasonSyncWindow: a sync window of the project blocks the sync now.
	ReasonSyncWindow Reason = "SyncWindowBlocked"
)

// StalledError is an error that retrying cannot fix: the Application, or the
// revision its source resolves to, must change first. The controller
// reports it in a condition and does not retry it; everything else is
// retryable (the API server, the network, Git), with a capped backoff.
type StalledError struct {
	Reason Reason
	Err    error
}

func (e *StalledError) Error() string { return e.Err.Error() }
func (e *StalledError) Unwrap() error { return e.Err }

// Stall marks err as stalled, with reason.
func Stall(reason Reason, err error) error {
	if err == nil {
		return nil
	}
	return &StalledError{Reason: reason, Err: err}
}

// IsStalled reports whether err is stalled, and why.
func IsStalled(err error) (Reason, bool) {
	var s *StalledError
	if errors.As(err, &s) {
		return s.Reason, true
	}
	return "", false
}

// renderStalled reports whether a render error says something about the
// revision itself (the same revision would fail the same way), rather
// than about reading it.
func renderStalled(err error) bool {
	var re *render.Error
	return errors.As(err, &re) || errors.Is(err, render.ErrLimitExceeded)
}
