package appstate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/render"
)

// RenderSource translates an Application source into the renderer's terms.
func RenderSource(src v1alpha1.ApplicationSource) render.Source {
	out := render.Source{Path: src.Path}
	if d := src.Directory; d != nil {
		out.Directory = &render.DirectoryOptions{Recurse: d.Recurse, Include: d.Include, Exclude: d.Exclude}
	}
	if k := src.Kustomize; k != nil {
		images := make([]string, len(k.Images))
		for i, img := range k.Images {
			images[i] = string(img)
		}
		out.Kustomize = &render.KustomizeOptions{
			NamePrefix: k.NamePrefix, NameSuffix: k.NameSuffix, Namespace: k.Namespace, Images: images,
			CommonLabels: k.CommonLabels, CommonAnnotations: k.CommonAnnotations,
		}
	}
	return out
}

// InstanceName is the name written into tracking annotations: the bare
// Application name for Applications in the controller's home namespace, as
// Argo CD does, and "<namespace>_<name>" for the others.
func InstanceName(home string, app types.NamespacedName) string {
	if app.Namespace == home {
		return app.Name
	}
	return app.Namespace + "_" + app.Name
}

// Key names an Application.
func Key(app *v1alpha1.Application) types.NamespacedName {
	return types.NamespacedName{Namespace: app.Namespace, Name: app.Name}
}

// Ignorer compiles the Application's ignoreDifferences.
func Ignorer(app *v1alpha1.Application) (*diff.Ignorer, error) {
	rules := make([]diff.IgnoreRule, len(app.Spec.IgnoreDifferences))
	for i, d := range app.Spec.IgnoreDifferences {
		rules[i] = diff.IgnoreRule{Group: d.Group, Kind: d.Kind, Name: d.Name, Namespace: d.Namespace,
			JSONPointers: d.JSONPointers, JQPathExpressions: d.JQPathExpressions, ManagedFieldsManagers: d.ManagedFieldsManagers}
	}
	ig, err := diff.CompileIgnoreRules(rules)
	if err != nil {
		return nil, Stall(ReasonInvalidSpec, fmt.Errorf("spec.ignoreDifferences: %w", err))
	}
	return ig, nil
}

// Short abbreviates a commit hash for messages, and leaves anything else
// (a chart version, a branch name) whole; several revisions joined by
// JoinRevisions are abbreviated each, separated by commas.
func Short(rev string) string {
	if strings.Contains(rev, revisionSep) {
		return ShortRevisions(rev)
	}
	if len(rev) >= 40 && strings.Trim(rev, "0123456789abcdef") == "" {
		return rev[:7]
	}
	return rev
}

// pathOrRoot names a source path in messages.
func pathOrRoot(p string) string {
	if p == "" || p == "." {
		return "the repository root"
	}
	return p
}
