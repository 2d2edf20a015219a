package diff

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// IgnoreRule is one of an Application's spec.ignoreDifferences entries.
type IgnoreRule struct {
	Group, Kind, Name, Namespace string
	JSONPointers                 []string
	JQPathExpressions            []string
	ManagedFieldsManagers        []string
}

// Ignorer removes ignored fields from objects; build it once per rule set.
type Ignorer struct {
	rules []compiledRule
}

type compiledRule struct {
	IgnoreRule
	jq    []*gojq.Code // del(expr): strips the selected fields
	paths []*gojq.Code // [path(expr)]: lists the selected fields
}

// CompileIgnoreRules validates and compiles rules; an error names the rule
// and the expression at fault.
func CompileIgnoreRules(rules []IgnoreRule) (*Ignorer, error) {
	ig := &Ignorer{}
	for i, r := range rules {
		cr := compiledRule{IgnoreRule: r}
		for _, p := range r.JSONPointers {
			if _, err := parsePointer(p); err != nil {
				return nil, fmt.Errorf("ignoreDifferences[%d].jsonPointers: %w", i, err)
			}
		}
		for _, expr := range r.JQPathExpressions {
			del, err := compileJQ("del(" + expr + ")")
			if err != nil {
				return nil, fmt.Errorf("ignoreDifferences[%d].jqPathExpressions %q: %w", i, expr, err)
			}
			paths, err := compileJQ("[path(" + expr + ")]")
			if err != nil {
				return nil, fmt.Errorf("ignoreDifferences[%d].jqPathExpressions %q: %w", i, expr, err)
			}
			cr.jq = append(cr.jq, del)
			cr.paths = append(cr.paths, paths)
		}
		ig.rules = append(ig.rules, cr)
	}
	return ig, nil
}

func (r compiledRule) matches(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return (r.Group == gvk.Group || r.Group == "*") && (r.Kind == gvk.Kind || r.Kind == "*") &&
		(r.Name == "" || r.Name == obj.GetName()) && (r.Namespace == "" || r.Namespace == obj.GetNamespace())
}

// Strip removes from obj, in place, every field an ignore rule selects.
func (ig *Ignorer) Strip(obj *unstructured.Unstructured) error {
	if ig == nil {
		return nil
	}
	for _, r := range ig.rules {
		if !r.matches(obj) {
			continue
		}
		for _, p := range r.JSONPointers {
			tokens, _ := parsePointer(p)
			removePath(obj.Object, tokens)
		}
		for _, code := range r.jq {
			if err := stripJQ(obj, code); err != nil {
				return err
			}
		}
	}
	return nil
}

// removePaths deletes each path from obj.
func removePaths(obj *unstructured.Unstructured, paths [][]any) {
	for _, p := range paths {
		removePath(obj.Object, pathTokens(p))
	}
}

// Selects reports whether any rule applies to obj; callers use it to decide
// whether a sync must keep the live value of ignored fields
// (RespectIgnoreDifferences=true).
func (ig *Ignorer) Selects(obj *unstructured.Unstructured) bool {
	if ig == nil {
		return false
	}
	for _, r := range ig.rules {
		if r.matches(obj) {
			return true
		}
	}
	return false
}

func compileJQ(src string) (*gojq.Code, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, err
	}
	return gojq.Compile(q)
}

// CopySelected sets, in desired, every field the rules select for it to its
// value in live (removing it where live has none).
func (ig *Ignorer) CopySelected(live, desired *unstructured.Unstructured) error {
	if ig == nil {
		return nil
	}
	for _, r := range ig.rules {
		if !r.matches(desired) {
			continue
		}
		var paths [][]any
		for _, p := range r.JSONPointers {
			tokens, _ := parsePointer(p)
			path := make([]any, len(tokens))
			for i, t := range tokens {
				path[i] = t
			}
			paths = append(paths, path)
		}
		for _, code := range r.paths {
			found, err := jqPaths(live, code)
			if err != nil {
				return err
			}
			paths = append(paths, found...)
		}
		for _, path := range paths {
			copyPath(live.Object, desired.Object, path)
		}
	}
	owned, err := ig.managedPaths(live)
	if err != nil {
		return err
	}
	for _, path := range owned {
		copyPath(live.Object, desired.Object, path)
	}
	return nil
}

func jqPaths(obj *unstructured.Unstructured, code *gojq.Code) ([][]any, error) {
	v, err := jsonValue(obj)
	if err != nil {
		return nil, err
	}
	out, ok := code.Run(v).Next()
	if !ok {
		return nil, nil
	}
	if err, isErr := out.(error); isErr {
		return nil, fmt.Errorf("jq path expression on %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	list, _ := out.([]any)
	paths := make([][]any, 0, len(list))
	for _, p := range list {
		if path, ok := p.([]any); ok {
			paths = append(paths, path)
		}
	}
	return paths, nil
}

func jsonValue(obj *unstructured.Unstructured) (any, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(data, &v)
}

// copyPath copies the value at path (map keys as strings, list indexes as
// numbers or numeric strings) from src to dst, creating maps on the way; a
// path absent from src is removed from dst.
func copyPath(src, dst map[string]any, path []any) {
	var sv any = src
	for _, p := range path {
		next, ok := child(sv, p)
		if !ok {
			removePath(dst, pathTokens(path))
			return
		}
		sv = next
	}
	var dv any = dst
	for i, p := range path {
		last := i == len(path)-1
		switch node := dv.(type) {
		case map[string]any:
			key := fmt.Sprint(p)
			if last {
				node[key] = deepCopyJSON(sv)
				return
			}
			if _, ok := node[key]; !ok {
				node[key] = map[string]any{}
			}
			dv = node[key]
		case []any:
			idx, ok := index(p)
			if !ok || idx >= len(node) {
				return
			}
			if last {
				node[idx] = deepCopyJSON(sv)
				return
			}
			dv = node[idx]
		default:
			return
		}
	}
}

func child(v any, p any) (any, bool) {
	switch node := v.(type) {
	case map[string]any:
		c, ok := node[fmt.Sprint(p)]
		return c, ok
	case []any:
		idx, ok := index(p)
		if !ok || idx >= len(node) {
			return nil, false
		}
		return node[idx], true
	}
	return nil, false
}

func index(p any) (int, bool) {
	switch v := p.(type) {
	case int:
		return v, v >= 0
	case float64:
		return int(v), v >= 0
	case string:
		i, err := strconv.Atoi(v)
		return i, err == nil && i >= 0
	}
	return 0, false
}

func pathTokens(path []any) []string {
	tokens := make([]string, len(path))
	for i, p := range path {
		tokens[i] = fmt.Sprint(p)
	}
	return tokens
}

// deepCopyJSON copies an unstructured value (maps, slices, scalars).
func deepCopyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopyJSON(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopyJSON(x)
		}
		return s
	}
	return v
}

// stripJQ runs del(expr) over the object. gojq works on JSON-shaped values
// (float64 numbers), so the object takes a JSON round trip.
func stripJQ(obj *unstructured.Unstructured, code *gojq.Code) error {
	v, err := jsonValue(obj)
	if err != nil {
		return err
	}
	out, ok := code.Run(v).Next()
	if !ok {
		return nil
	}
	if err, isErr := out.(error); isErr {
		return fmt.Errorf("jq path expression on %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	stripped := &unstructured.Unstructured{}
	if err := stripped.UnmarshalJSON(data); err != nil {
		return err
	}
	obj.Object = stripped.Object
	return nil
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("empty JSON pointer")
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("JSON pointer %q must start with /", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// removePath deletes the value at tokens; a missing path is not an error.
func removePath(v any, tokens []string) {
	for i, t := range tokens {
		last := i == len(tokens)-1
		switch node := v.(type) {
		case map[string]any:
			if last {
				delete(node, t)
				return
			}
			v = node[t]
		case []any:
			idx, err := strconv.Atoi(t)
			if err != nil || idx < 0 || idx >= len(node) {
				return
			}
			if last {
				// Removing from a slice in place would need the parent; a
				// nil keeps indexes stable and compares equal on both sides.
				node[idx] = nil
				return
			}
			v = node[idx]
		default:
			return
		}
	}
}
