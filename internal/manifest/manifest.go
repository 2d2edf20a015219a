// Package manifest holds the rules every rendered Kubernetes object meets,
// whoever rendered it: internal/render's manifest files and kustomize's
// output, internal/helm's templates. One place, so that a document a
// Directory source accepts is accepted from a chart, and refused with the
// same words.
package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every refusal: a document that is no object, a
// List whose items are not objects, an object without apiVersion, kind or
// name.
var ErrInvalid = errors.New("invalid manifest")

// Objects returns the objects of a decoded document: the document itself,
// or the items of a List kind (kind "List", or a kind ending in "List",
// such as ConfigMapList, that has an "items" field; isList says which). As
// in the API server's typed lists, items without apiVersion and kind take
// the list's apiVersion and its kind without "List". Every object is
// checked with Validate.
func Objects(m map[string]any) (objs []map[string]any, isList bool, err error) {
	kind, _ := m["kind"].(string)
	raw, hasItems := m["items"]
	if kind != "List" && !(strings.HasSuffix(kind, "List") && hasItems) {
		return []map[string]any{m}, false, Validate(m)
	}
	if raw == nil {
		return nil, true, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, true, fmt.Errorf("%w: %s items is a %s, not a list", ErrInvalid, kind, JSONKind(raw))
	}
	apiVersion, _ := m["apiVersion"].(string)
	itemKind := strings.TrimSuffix(kind, "List")
	items := make([]map[string]any, 0, len(list))
	for i, raw := range list {
		item, ok := raw.(map[string]any)
		if !ok {
			return nil, true, fmt.Errorf("%w: %s item %d is a %s, not a Kubernetes object", ErrInvalid, kind, i, JSONKind(raw))
		}
		_, hasKind := item["kind"]
		_, hasAPIVersion := item["apiVersion"]
		if !hasKind && !hasAPIVersion && itemKind != "" {
			item["kind"] = itemKind
			item["apiVersion"] = apiVersion
		}
		if err := Validate(item); err != nil {
			return nil, true, fmt.Errorf("%s item %d: %w", kind, i, err)
		}
		items = append(items, item)
	}
	return items, true, nil
}

// Validate checks the fields every rendered object must have: apiVersion,
// kind, and metadata.name or metadata.generateName.
func Validate(m map[string]any) error {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	switch {
	case apiVersion == "" && kind == "":
		return fmt.Errorf("%w: document has no apiVersion and kind", ErrInvalid)
	case apiVersion == "":
		return fmt.Errorf("%w: %s has no apiVersion", ErrInvalid, kind)
	case kind == "":
		return fmt.Errorf("%w: document of apiVersion %s has no kind", ErrInvalid, apiVersion)
	}
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	generateName, _ := meta["generateName"].(string)
	if name == "" && generateName == "" {
		return fmt.Errorf("%w: %s %s has no metadata.name or metadata.generateName", ErrInvalid, apiVersion, kind)
	}
	return nil
}

// JSONKind names the JSON type of a decoded value, for error messages.
func JSONKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}
