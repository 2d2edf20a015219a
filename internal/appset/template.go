package appset

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// Render substitutes params into tmpl, a JSON-compatible value (the Application template as
// decoded by encoding/json: maps, lists, strings, numbers, booleans, nil). Every string is
// rendered, map keys included (so annotation names can be templated); other scalars are kept.
// tmpl is not modified.
//
// Default mode is Argo CD's fasttemplate substitution: "{{key}}" (spaces allowed inside the
// braces, "{{ name }}") is replaced by the string parameter named key, a flat name such as
// "metadata.labels.region" or "path[0]"; an unknown key, or one whose value is not a string, is
// left as written, as Argo CD leaves it.
//
// goTemplate mode renders each string as a Go text/template with sprig's functions (without env,
// expandenv and getHostByName) plus Argo CD's normalize, toYaml, fromYaml and fromYamlArray, and
// options ("missingkey=error", ...) applied; the field becomes the rendered text. Errors name the
// field, e.g. "template: spec.source.path:1:8: executing ...".
func Render(tmpl any, params map[string]any, goTemplate bool, options []string) (any, error) {
	if goTemplate {
		if err := checkOptions(options); err != nil {
			return nil, err
		}
	}
	r := renderer{params: params, goTemplate: goTemplate, options: options}
	return r.value(tmpl, "")
}

// Patch applies an ApplicationSet's templatePatch to app, an Application rendered by Render: the
// patch text is rendered as a Go template over params (always, as in Argo CD), decoded as YAML or
// JSON, and applied as a JSON merge patch (RFC 7386): objects merge key by key, null deletes a
// key, anything else (lists included) replaces. Argo CD applies a strategic merge patch against
// its Application type instead; the two differ only on the lists that type declares mergeable
// (metadata.finalizers and metadata.ownerReferences, merged there and replaced here). A patch
// rendering to nothing (or null) leaves app as is. app is not modified; the result may share
// values with it.
func Patch(app map[string]any, patch string, params map[string]any, options []string) (map[string]any, error) {
	if err := checkOptions(options); err != nil {
		return nil, err
	}
	r := renderer{params: params, goTemplate: true, options: options}
	text, err := r.str(patch, "templatePatch")
	if err != nil {
		return nil, err
	}
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("templatePatch: the rendered patch is not YAML or JSON: %w", err)
	}
	switch doc := doc.(type) {
	case nil:
		return app, nil
	case map[string]any:
		out, _ := mergePatch(app, doc).(map[string]any)
		return out, nil
	default:
		return nil, fmt.Errorf("templatePatch: the rendered patch is %s, not an object", show(doc))
	}
}

// mergePatch applies patch to target per RFC 7386 without modifying either.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, _ := target.(map[string]any)
	out := maps.Clone(tm)
	if out == nil {
		out = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// checkOptions accepts the options text/template knows; Template.Option panics on others.
func checkOptions(options []string) error {
	for _, o := range options {
		switch o {
		case "missingkey=default", "missingkey=invalid", "missingkey=zero", "missingkey=error":
		default:
			return fmt.Errorf("unsupported goTemplateOptions entry %q (want missingkey=default, invalid, zero or error)", o)
		}
	}
	return nil
}

// funcs are the goTemplate functions: sprig's, minus those that would let whoever writes an
// ApplicationSet read the controller's environment or reach the network, plus Argo CD's own.
// (Argo CD's slugify is missing: it needs a slug library Ferry does not carry.)
var funcs = func() template.FuncMap {
	f := sprig.TxtFuncMap()
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(f, name)
	}
	f["normalize"] = normalize
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	return f
}()

func toYAML(v any) (string, error) {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(raw), "\n"), nil
}

func fromYAML(s string) (map[string]any, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

func fromYAMLArray(s string) ([]any, error) {
	var l []any
	if err := yaml.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	return l, nil
}

// renderer renders strings with one parameter set.
type renderer struct {
	params     map[string]any
	goTemplate bool
	options    []string
}

// value renders v, found at the field path at ("spec.sources[0].path"; "" for the root).
func (r renderer) value(v any, at string) (any, error) {
	switch v := v.(type) {
	case string:
		return r.str(v, at)
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			kat := k
			if at != "" {
				kat = at + "." + k
			}
			rk, err := r.str(k, kat)
			if err != nil {
				return nil, err
			}
			if _, dup := out[rk]; dup {
				return nil, fmt.Errorf("%s: two keys render to %q", kat, rk)
			}
			if out[rk], err = r.value(v[k], kat); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			var err error
			if out[i], err = r.value(x, at+"["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer:
		return nil, fmt.Errorf("%s: cannot render a %T (want JSON-compatible values)", at, v)
	}
	return v, nil
}

// str renders one string; at names it in errors.
func (r renderer) str(s, at string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	if !r.goTemplate {
		return substitute(s, r.params), nil
	}
	if at == "" {
		at = "template"
	}
	t, err := template.New(at).Funcs(funcs).Parse(s)
	if err != nil {
		return "", err
	}
	t.Option(r.options...)
	var b strings.Builder
	if err := t.Execute(&b, r.params); err != nil {
		return "", err
	}
	return b.String(), nil
}

// substitute is Argo CD's default-mode substitution (valyala/fasttemplate with "{{" and "}}" and
// a lookup of the trimmed tag). It is written by hand because the rule is small and exact and a
// dependency for it is not worth it: a tag runs from "{{" to the first "}}" after it; if the
// trimmed tag names a string parameter the whole "{{tag}}" becomes its value, otherwise it stays
// as written. A "{{" never closed is kept as text (fasttemplate would fail the whole render).
func substitute(s string, params map[string]any) string {
	var b strings.Builder
	for {
		start := strings.Index(s, "{{")
		if start < 0 {
			break
		}
		n := strings.Index(s[start+2:], "}}")
		if n < 0 {
			break
		}
		end := start + 2 + n + 2
		b.WriteString(s[:start])
		key := strings.TrimSpace(s[start+2 : end-2])
		if v, ok := params[key].(string); ok && key != "" {
			b.WriteString(v)
		} else {
			b.WriteString(s[start:end])
		}
		s = s[end:]
	}
	b.WriteString(s)
	return b.String()
}
