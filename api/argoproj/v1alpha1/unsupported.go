package v1alpha1

import (
	"encoding"
	"encoding/json"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// UnsupportedFields returns the JSON paths, sorted, of the fields set in obj,
// an Application's content as read unstructured (for example
// unstructured.Unstructured.Object), that the Go types of this package do not
// model: "spec.source.plugin", "spec.sources[1].plugin", "spec.ignoreDifferences[1].foo".
// It returns nil when Ferry models everything obj sets.
//
// The CRD keeps such fields instead of pruning them, so the controller sees
// them here and reports them in an ApplicationConditionUnsupportedField
// condition rather than deploying something other than what the user asked
// for without a word. A path names the outermost unmodelled field only: for
// spec.source.plugin.env it is spec.source.plugin.
//
// status is not examined: it is the controller's output, not the user's
// intent, and Argo CD writes fields there that Ferry has no use for.
//
// The walk follows the Go types' JSON field names rather than decoding obj
// into an Application and comparing what encodes back, because encoding
// drops zero values marked omitempty: `prune: false` would come back missing
// and be reported as unsupported though Ferry models it. Values whose type
// decodes itself (metav1.Time, for example) are taken whole; values of the
// wrong JSON type are left to the API server's validation.
func UnsupportedFields(obj map[string]any) []string {
	content := maps.Clone(obj)
	delete(content, "status")
	var paths []string
	walkUnsupported(content, reflect.TypeFor[Application](), "", &paths)
	sort.Strings(paths)
	return paths
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkUnsupported appends to paths every key under v, found at path, that
// type t has no JSON field for.
func walkUnsupported(v any, t reflect.Type, path string, paths *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for key, val := range m {
			p := joinPath(path, key)
			ft, ok := fields[key]
			if !ok {
				*paths = append(*paths, p)
				continue
			}
			walkUnsupported(val, ft, p, paths)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for key, val := range m {
			walkUnsupported(val, t.Elem(), joinPath(path, key), paths)
		}
	case reflect.Slice, reflect.Array:
		items, ok := v.([]any)
		if !ok {
			return
		}
		for i, item := range items {
			walkUnsupported(item, t.Elem(), path+"["+strconv.Itoa(i)+"]", paths)
		}
	}
}

// decodesItself reports whether t has its own JSON decoding, so its content
// cannot be checked field by field and is taken as modelled.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Kind() == reflect.Interface ||
		pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler)
}

// jsonFields maps the JSON names of struct type t's fields, including those
// of embedded structs encoding/json inlines, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			maps.Copy(fields, jsonFields(ft))
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
