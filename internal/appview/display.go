package appview

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Unified is a unified diff of live → predicted as YAML (DisplayYAML:
// without the fields the server maintains, Secret values masked) under a
// "===== name ======" header. Either object may be nil (created, pruned).
func Unified(name string, live, predicted *unstructured.Unstructured) (string, error) {
	a, err := DisplayYAML(live)
	if err != nil {
		return "", fmt.Errorf("show the live %s: %w", name, err)
	}
	b, err := DisplayYAML(predicted)
	if err != nil {
		return "", fmt.Errorf("show the desired %s: %w", name, err)
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: "live/" + name, ToFile: "desired/" + name, Context: 3,
	})
	if err != nil {
		return "", fmt.Errorf("diff %s: %w", name, err)
	}
	return "===== " + name + " ======\n" + text, nil
}

// DisplayYAML is obj as YAML without the fields the server maintains
// (managedFields, resourceVersion, generation, uid, creationTimestamp,
// status), a Secret's values masked (maskSecret); "" for nil.
func DisplayYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	c := obj.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	maskSecret(c)
	data, err := yaml.Marshal(c.Object)
	return strings.TrimRight(string(data), "\n") + "\n", err
}

// isMask reports a value that already hides a Secret's: internal/diff's
// (a comparison masks through fluxcd/pkg/ssa, marking changed keys) or
// `ferry promote`'s. Masks are kept, so a diff still shows which keys
// changed.
func isMask(v any) bool {
	switch v {
	case "***", "*** (before)", "*** (after)", "(masked)", "(masked, changed)":
		return true
	}
	return false
}

// lastApplied is kubectl's copy of what it last applied: for a Secret, its
// values in clear.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maskSecret hides the values of a Secret (the kind internal/redact's
// SecretValues names: core group): every data and stringData value not
// masked already becomes "***", and kubectl's last-applied annotation
// too. A comparison masks them already (the dry-run's result, the live
// object it read); this is for the objects it does not (an object to
// prune, read as it is) and for callers showing an object they read.
func maskSecret(obj *unstructured.Unstructured) {
	if obj.GetKind() != "Secret" || obj.GroupVersionKind().Group != "" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		values, ok := obj.Object[field].(map[string]any)
		if !ok {
			if _, set := obj.Object[field]; set {
				obj.Object[field] = "***" // not a map: the API server refuses it, nothing to show
			}
			continue
		}
		for k, v := range values {
			if !isMask(v) {
				values[k] = "***"
			}
		}
	}
	if a := obj.GetAnnotations(); a[lastApplied] != "" {
		a[lastApplied] = "***"
		obj.SetAnnotations(a)
	}
}
