package appstate

import (
	"strings"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// Sources returns the Application's sources in order: spec.sources, or
// spec.source alone. An Application with neither has none.
func Sources(app *v1alpha1.Application) []v1alpha1.ApplicationSource {
	if len(app.Spec.Sources) > 0 {
		return app.Spec.Sources
	}
	if app.Spec.Source != nil {
		return []v1alpha1.ApplicationSource{*app.Spec.Source}
	}
	return nil
}

// MultiSource reports whether the Application uses spec.sources: its
// status then carries revisions (sync.revisions, history[].revisions), not
// a revision.
func MultiSource(app *v1alpha1.Application) bool { return len(app.Spec.Sources) > 0 }

// IsChart reports whether src is a chart from a Helm repository.
func IsChart(src v1alpha1.ApplicationSource) bool { return src.Chart != "" }

// Renders reports whether src renders manifests. A source with a ref and
// neither a path nor a chart only lends its repository to the others'
// "$ref/..." value files, as in Argo CD.
func Renders(src v1alpha1.ApplicationSource) bool {
	return src.Ref == "" || src.Path != "" || src.Chart != ""
}

// revisionSep joins the revisions of a multi-source Application, resolved
// or as asked for: no Git ref name, commit, chart version or semver range
// holds a line break (a range may hold spaces: ">=4.0.0 <5.0.0").
const revisionSep = "\n"

// JoinRevisions returns the one string that names the revisions of an
// Application's sources together, by position: the key under which the
// controller remembers comparisons, decides whether a revision was synced,
// and caches renders. One source's is its revision.
func JoinRevisions(revs []string) string { return strings.Join(revs, revisionSep) }

// SplitRevisions undoes JoinRevisions for an Application with n sources.
// A key of another shape (a single revision given for several sources)
// applies to every source.
func SplitRevisions(key string, n int) []string {
	if n <= 1 {
		return []string{key}
	}
	parts := strings.Split(key, revisionSep)
	if len(parts) == n {
		return parts
	}
	out := make([]string, n)
	for i := range out {
		out[i] = key
	}
	return out
}

// SyncedRevision is the revision key a status records: Revision, or the
// joined Revisions of a multi-source Application.
func SyncedRevision(revision string, revisions []string) string {
	if len(revisions) > 0 {
		return JoinRevisions(revisions)
	}
	return revision
}

// StatusRevisions splits a revision key into what status records: a
// revision for a single source, revisions for several.
func StatusRevisions(app *v1alpha1.Application, key string) (revision string, revisions []string) {
	if !MultiSource(app) {
		return key, nil
	}
	return "", SplitRevisions(key, len(app.Spec.Sources))
}

// TargetRevisions are the revisions the Application's sources follow, by
// position: each source's targetRevision, unless the operation names
// others (SyncOperation.Revision for one source; Revisions, at
// SourcePositions when given, for several).
func TargetRevisions(app *v1alpha1.Application, op *v1alpha1.SyncOperation) []string {
	srcs := Sources(app)
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.TargetRevision
	}
	if op == nil {
		return out
	}
	if !MultiSource(app) {
		if op.Revision != "" && len(out) == 1 {
			out[0] = op.Revision
		}
		return out
	}
	for i, rev := range op.Revisions {
		pos := i
		if len(op.SourcePositions) > i {
			pos = int(op.SourcePositions[i]) - 1
		}
		if pos >= 0 && pos < len(out) && rev != "" {
			out[pos] = rev
		}
	}
	return out
}

// ShortRevisions abbreviates the revisions of a key for messages (Short
// each), separated by commas.
func ShortRevisions(key string) string {
	parts := strings.Split(key, revisionSep)
	for i, p := range parts {
		parts[i] = Short(p)
	}
	return strings.Join(parts, ", ")
}
