package render

import (
	"errors"
	"fmt"

	manifestpkg "github.com/ferrycd/ferry/internal/manifest"
)

// Sentinel errors classify why a render failed, so callers can tell a source that must be fixed
// in Git (everything below) from a transient failure (context cancellation, I/O errors from the
// repository). Match them with errors.Is; they are always wrapped in an *Error naming the file.
var (
	// ErrInvalidSource means the Source itself is unusable: a bad path, conflicting or malformed
	// options, an invalid glob pattern.
	ErrInvalidSource = errors.New("invalid source")
	// ErrInvalidManifest means a manifest file could not be decoded into Kubernetes objects:
	// broken YAML or JSON, a document that is not an object, a missing apiVersion, kind or name.
	ErrInvalidManifest = manifestpkg.ErrInvalid
	// ErrOutsideRepository means a path leaves the repository root.
	ErrOutsideRepository = errors.New("path outside the repository")
	// ErrRemoteReference means a kustomization refers to something that would be fetched from
	// the network (a remote base, resource or file). Ferry renders only what is in the revision.
	ErrRemoteReference = errors.New("remote reference not allowed")
	// ErrNotAllowed means a kustomization uses a kustomize feature that Ferry disables: Helm
	// chart inflation, exec/Go/KRM-function plugins, custom OpenAPI schemas.
	ErrNotAllowed = errors.New("kustomize feature not allowed")
	// ErrLimitExceeded means the render went over one of its Limits.
	ErrLimitExceeded = errors.New("render limit exceeded")
)

// Error is a render error that names the file (repository-relative) and, when known, the line.
// Err says what went wrong and wraps one of the sentinel errors above, an error from the
// repository's fs.FS, or kustomize's error.
type Error struct {
	// File is the repository-relative path of the file (or directory) at fault.
	File string
	// Line is the 1-based line in File, or 0 when unknown.
	Line int
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Err.Error()
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// fileError wraps err as an *Error naming file, unless it already is one (the inner error names
// the file more precisely).
func fileError(file string, err error) error {
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	return &Error{File: file, Err: err}
}
