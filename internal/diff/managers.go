package diff

import (
	"bytes"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// managedPaths returns the fields of live that the field managers named by
// matching rules (ignoreDifferences[].managedFieldsManagers) own, as paths of
// map keys and list indexes resolved against live. The ownership comes from
// live's managedFields, which the API server keeps per manager.
func (ig *Ignorer) managedPaths(live *unstructured.Unstructured) ([][]any, error) {
	if ig == nil || live == nil {
		return nil, nil
	}
	var managers []string
	for _, r := range ig.rules {
		if r.matches(live) {
			managers = append(managers, r.ManagedFieldsManagers...)
		}
	}
	if len(managers) == 0 {
		return nil, nil
	}
	var paths [][]any
	for _, entry := range live.GetManagedFields() {
		if !slices.Contains(managers, entry.Manager) || entry.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(entry.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("managed fields of %s in %s %s: %w", entry.Manager, live.GetKind(), live.GetName(), err)
		}
		set.Leaves().Iterate(func(p fieldpath.Path) {
			if resolved, ok := resolve(live.Object, p); ok && !isMetadataPath(resolved) {
				paths = append(paths, resolved)
			}
		})
	}
	return paths, nil
}

// readsManagedFields reports whether comparing obj needs its live
// managedFields: a matching rule names field managers.
func (ig *Ignorer) readsManagedFields(obj *unstructured.Unstructured) bool {
	if ig == nil {
		return false
	}
	for _, r := range ig.rules {
		if len(r.ManagedFieldsManagers) > 0 && r.matches(obj) {
			return true
		}
	}
	return false
}

// isMetadataPath leaves metadata alone: it is compared only through labels
// and annotations, and a manager that owns a label owns it for a reason the
// rule's author did not state.
func isMetadataPath(p []any) bool { return len(p) > 0 && p[0] == "metadata" }

// resolve turns a structured-merge-diff path into map keys and list indexes
// within obj; ok is false when obj does not hold the path.
func resolve(obj map[string]any, p fieldpath.Path) ([]any, bool) {
	var out []any
	var cur any = obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return nil, false
			}
			out = append(out, *pe.FieldName)
		case pe.Index != nil:
			list, ok := cur.([]any)
			if !ok || *pe.Index >= len(list) {
				return nil, false
			}
			cur = list[*pe.Index]
			out = append(out, *pe.Index)
		default:
			list, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			i := slices.IndexFunc(list, func(item any) bool { return matchesElement(item, pe) })
			if i < 0 {
				return nil, false
			}
			cur = list[i]
			out = append(out, i)
		}
	}
	return out, true
}

// matchesElement reports whether a list item is the one a key (associative
// list) or value (set) path element names.
func matchesElement(item any, pe fieldpath.PathElement) bool {
	if pe.Value != nil {
		return equality.Semantic.DeepEqual(item, (*pe.Value).Unstructured())
	}
	m, ok := item.(map[string]any)
	if !ok || pe.Key == nil {
		return false
	}
	for _, f := range *pe.Key {
		if !equality.Semantic.DeepEqual(m[f.Name], f.Value.Unstructured()) {
			return false
		}
	}
	return true
}
