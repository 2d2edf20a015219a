package appset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Generator is one entry of an ApplicationSet's spec.generators (or of a matrix's or merge's
// generators): exactly one of List, Clusters, Git, Matrix and Merge is set. Selector, when set,
// keeps only the parameter sets whose flattened parameters it matches. The JSON field names are
// Argo CD's, so spec.generators unmarshals into []Generator directly; generators Ferry does not
// support (scmProvider, pullRequest, plugin, ...) leave every field nil and are reported.
type Generator struct {
	List     *ListGenerator        `json:"list,omitempty"`
	Clusters *ClusterGenerator     `json:"clusters,omitempty"`
	Git      *GitGenerator         `json:"git,omitempty"`
	Matrix   *MatrixGenerator      `json:"matrix,omitempty"`
	Merge    *MergeGenerator       `json:"merge,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// Inputs is what the generators read besides their specs: the cluster registry, the repository
// reader, and the ApplicationSet's goTemplate and goTemplateOptions.
type Inputs struct {
	Clusters          []Cluster
	Repo              Repo
	GoTemplate        bool
	GoTemplateOptions []string
}

// Generate runs gens and returns the concatenation of their parameter sets, in order. Errors name
// the generator by position, e.g. "generators[1].matrix.generators[0].git: ...". The returned
// sets may share nested values; treat them as read-only.
func Generate(ctx context.Context, gens []Generator, in Inputs) ([]map[string]any, error) {
	if in.GoTemplate {
		if err := checkOptions(in.GoTemplateOptions); err != nil {
			return nil, err
		}
	}
	g := &generation{in: in}
	out := []map[string]any{}
	for i, gen := range gens {
		sets, err := g.run(ctx, gen, fmt.Sprintf("generators[%d]", i), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, sets...)
	}
	return out, nil
}

// generation is one Generate call.
type generation struct {
	in Inputs
}

// run runs gen, found at position at. scope holds the parameters of the enclosing matrices'
// earlier children: a list, clusters or git spec is rendered with them before it runs.
func (g *generation) run(ctx context.Context, gen Generator, at string, scope map[string]any) ([]map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	kind, err := gen.kind()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at, err)
	}
	here := at + "." + kind
	var sets []map[string]any
	switch kind {
	case "matrix":
		sets, err = g.matrix(ctx, gen.Matrix, here, scope)
	case "merge":
		sets, err = g.merge(ctx, gen.Merge, here, scope)
	default:
		sets, gen, err = g.leaf(ctx, gen, kind, scope)
		if err != nil {
			err = fmt.Errorf("%s: %w", here, err)
		}
	}
	if err != nil {
		return nil, err
	}
	sets, err = filterSets(gen.Selector, sets)
	if err != nil {
		return nil, fmt.Errorf("%s.selector: %w", at, err)
	}
	return sets, nil
}

// kind names the one generator set in gen.
func (gen Generator) kind() (string, error) {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"list", gen.List != nil}, {"clusters", gen.Clusters != nil}, {"git", gen.Git != nil},
		{"matrix", gen.Matrix != nil}, {"merge", gen.Merge != nil},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch len(kinds) {
	case 1:
		return kinds[0], nil
	case 0:
		return "", errors.New("no supported generator set (Ferry supports list, clusters, git, matrix and merge)")
	default:
		return "", fmt.Errorf("more than one generator set in one entry (%s)", strings.Join(kinds, ", "))
	}
}

// leaf runs a list, clusters or git generator, after rendering its spec with scope. It returns
// the rendered generator too: its selector is the one to apply.
func (g *generation) leaf(ctx context.Context, gen Generator, kind string, scope map[string]any) ([]map[string]any, Generator, error) {
	if len(scope) > 0 {
		var err error
		if gen, err = g.interpolate(gen, scope); err != nil {
			return nil, gen, fmt.Errorf("templating the spec with earlier generators' parameters: %w", err)
		}
	}
	var sets []map[string]any
	var err error
	switch kind {
	case "list":
		sets, err = g.list(gen.List)
	case "clusters":
		sets, err = g.clusters(gen.Clusters)
	case "git":
		sets, err = g.git(ctx, gen.Git)
	}
	return sets, gen, err
}

// interpolate renders every string of gen's JSON form (keys included) as a template over params,
// as Argo CD does for a matrix's second child.
func (g *generation) interpolate(gen Generator, params map[string]any) (Generator, error) {
	raw, err := json.Marshal(gen)
	if err != nil {
		return gen, err
	}
	spec, err := decodeJSON(raw, true)
	if err != nil {
		return gen, err
	}
	rendered, err := Render(spec, params, g.in.GoTemplate, g.in.GoTemplateOptions)
	if err != nil {
		return gen, err
	}
	if raw, err = json.Marshal(rendered); err != nil {
		return gen, err
	}
	var out Generator
	if err := json.Unmarshal(raw, &out); err != nil {
		return gen, fmt.Errorf("the rendered spec is invalid: %w", err)
	}
	return out, nil
}

// overlay returns base with over's parameters on top; nested objects are overlaid key by key.
func overlay(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]any, len(over))
	}
	for k, v := range over {
		if bm, ok := asMap(out[k]); ok {
			if om, ok := asMap(v); ok {
				out[k] = overlay(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// elementParams turns a decoded JSON object into a parameter set: as is in goTemplate mode,
// flattened otherwise.
func (g *generation) elementParams(el any) (map[string]any, error) {
	obj, ok := el.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an object but %s", show(el))
	}
	if g.in.GoTemplate {
		return obj, nil
	}
	flat := map[string]string{}
	if err := flattenInto(flat, "", obj); err != nil {
		return nil, err
	}
	set := make(map[string]any, len(flat))
	for k, v := range flat {
		set[k] = v
	}
	return set, nil
}

// numbers makes a YAML or JSON decoding keep numbers as written (json.Number) in flat mode, so a
// parameter reads "1000000" rather than Argo CD's "1e+06"; goTemplate mode keeps float64.
func (g *generation) numbers(d *json.Decoder) *json.Decoder {
	if !g.in.GoTemplate {
		d.UseNumber()
	}
	return d
}

// addValues renders values over set and adds them as values.<key> (flat) or .values.<key>.
func (g *generation) addValues(set map[string]any, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	r := renderer{params: set, goTemplate: g.in.GoTemplate, options: g.in.GoTemplateOptions}
	rendered := make(map[string]string, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		s, err := r.str(values[k], "values."+k)
		if err != nil {
			return err
		}
		rendered[k] = s
	}
	if g.in.GoTemplate {
		set["values"] = rendered
		return nil
	}
	for k, v := range rendered {
		set["values."+k] = v
	}
	return nil
}

// filterSets keeps the sets whose flattened parameters sel matches; a nil sel keeps all.
func filterSets(sel *metav1.LabelSelector, sets []map[string]any) ([]map[string]any, error) {
	if sel == nil {
		return sets, nil
	}
	if err := checkSelector(sel); err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for i, set := range sets {
		flat := map[string]string{}
		if err := flattenInto(flat, "", set); err != nil {
			return nil, fmt.Errorf("parameter set %d: %w", i, err)
		}
		if selectorMatches(sel, flat) {
			out = append(out, set)
		}
	}
	return out, nil
}

// checkSelector rejects what metav1.LabelSelectorAsSelector rejects in a selector's structure
// (unknown operators, values with Exists/DoesNotExist, none with In/NotIn). Unlike Kubernetes it
// puts no syntax limits on keys and values, as Argo CD does not: parameters such as server URLs
// are not valid label values.
func checkSelector(sel *metav1.LabelSelector) error {
	for i, e := range sel.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				return fmt.Errorf("matchExpressions[%d]: operator %s needs values", i, e.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				return fmt.Errorf("matchExpressions[%d]: operator %s takes no values", i, e.Operator)
			}
		default:
			return fmt.Errorf("matchExpressions[%d]: unknown operator %q", i, e.Operator)
		}
	}
	return nil
}

// selectorMatches reports whether labels satisfy sel (checked by checkSelector): every
// matchLabels pair and every matchExpressions requirement.
func selectorMatches(sel *metav1.LabelSelector, labels map[string]string) bool {
	for k, v := range sel.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		got, has := labels[e.Key]
		var ok bool
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			ok = has && slices.Contains(e.Values, got)
		case metav1.LabelSelectorOpNotIn:
			ok = !has || !slices.Contains(e.Values, got)
		case metav1.LabelSelectorOpExists:
			ok = has
		case metav1.LabelSelectorOpDoesNotExist:
			ok = !has
		}
		if !ok {
			return false
		}
	}
	return true
}

// flattenInto adds v's scalars to out under dotted names, as Argo CD's flat mode does
// (jeremywohl/flatten's dot style): object keys join with '.', list items are named by index
// ("tags.0"), empty objects and lists vanish, scalars become strings. Two values landing on one
// name (say "a.b" and {"a": {"b": ...}}) are an error rather than a silent pick.
func flattenInto(out map[string]string, prefix string, v any) error {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	if m, ok := asMap(v); ok {
		for k, x := range m {
			if err := flattenInto(out, join(k), x); err != nil {
				return err
			}
		}
		return nil
	}
	if l, ok := asList(v); ok {
		for i, x := range l {
			if err := flattenInto(out, join(strconv.Itoa(i)), x); err != nil {
				return err
			}
		}
		return nil
	}
	if _, dup := out[prefix]; dup {
		return fmt.Errorf("two values flatten to the parameter name %q", prefix)
	}
	out[prefix] = scalarString(v)
	return nil
}

// scalarString formats a JSON scalar as a flat parameter: numbers as written (or in plain
// decimal notation), null as "".
func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// asMap returns v as a map[string]any if it is an object (map[string]string included, which the
// cluster generator and values produce in goTemplate mode).
func asMap(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = x
		}
		return m, true
	}
	return nil, false
}

// asList returns v as a []any if it is a list ([]string included: path segments).
func asList(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []string:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = x
		}
		return l, true
	}
	return nil, false
}

// decodeJSON decodes one JSON value; useNumber keeps numbers as json.Number.
func decodeJSON(raw []byte, useNumber bool) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	if useNumber {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// cloneStrings copies m, never returning nil, so templates can index a cluster's labels even
// when it has none.
func cloneStrings(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// show formats a parameter value for an error message.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

var invalidNameChars = regexp.MustCompile(`[^-a-z0-9.]`)

// normalize makes name usable as a DNS-1123 subdomain the way Argo CD's SanitizeName does:
// lowercased, each character other than a-z, 0-9, '-' and '.' replaced by '-', cut to 253
// bytes, leading and trailing '-' and '.' trimmed.
func normalize(name string) string {
	name = invalidNameChars.ReplaceAllString(strings.ToLower(name), "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}
