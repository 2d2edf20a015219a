// Package appset holds the pure parts of ApplicationSets: the generators that turn an
// ApplicationSet's spec.generators into parameter sets, and the rendering of the Application
// template (and templatePatch) with one parameter set. Nothing here talks to Kubernetes or Git:
// clusters come in as values and repository contents through the Repo interface.
//
// Parameters follow Argo CD's two modes. Without goTemplate every parameter is a string under a
// flat, dotted name ("metadata.labels.region", "path[0]") and templates substitute "{{name}}".
// With goTemplate parameters keep their structure and types (.metadata.labels.region,
// .path.segments) and templates are Go text/templates with sprig's functions.
package appset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
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

// ListGenerator yields one parameter set per element: the JSON objects of Elements, then those of
// the YAML list in ElementsYaml.
type ListGenerator struct {
	Elements     []json.RawMessage `json:"elements,omitempty"`
	ElementsYaml string            `json:"elementsYaml,omitempty"`
}

// ClusterGenerator yields one parameter set per cluster of Inputs.Clusters whose labels match
// Selector (an empty selector matches every cluster). Values are added as values.<key>; each
// value is itself a template over the cluster's parameters.
type ClusterGenerator struct {
	Selector metav1.LabelSelector `json:"selector,omitempty"`
	Values   map[string]string    `json:"values,omitempty"`
}

// GitGenerator yields parameter sets from a repository at a revision: one per directory matching
// Directories, or one per object found in the JSON/YAML files matching Files (set one of the
// two). PathParamPrefix puts the path parameters under <prefix>.path; Values are added as
// values.<key>, templated like the cluster generator's.
type GitGenerator struct {
	RepoURL         string            `json:"repoURL"`
	Revision        string            `json:"revision"`
	Directories     []GitDirectory    `json:"directories,omitempty"`
	Files           []GitFile         `json:"files,omitempty"`
	PathParamPrefix string            `json:"pathParamPrefix,omitempty"`
	Values          map[string]string `json:"values,omitempty"`
}

// GitDirectory selects directories whose repository-relative path matches Path (path.Match
// syntax: '*' does not cross '/'), or, with Exclude, removes them whatever else matches.
type GitDirectory struct {
	Path    string `json:"path"`
	Exclude bool   `json:"exclude,omitempty"`
}

// GitFile selects the files matching the glob Path (interpreted by Repo.Files), or, with
// Exclude, removes them.
type GitFile struct {
	Path    string `json:"path"`
	Exclude bool   `json:"exclude,omitempty"`
}

// MatrixGenerator yields the cartesian product of its generators' parameter sets, left to right.
// Unlike Argo CD (exactly two children, one level of nesting) it takes any number ≥ 2 at any
// depth. Each child after the first is run once per set accumulated so far: a list, clusters or
// git child has its spec rendered as a template over those parameters first (empty parameters
// render nothing, as in Argo CD); a matrix or merge child passes them on to its own children,
// together with any parameters it received itself. Two children yielding one key with different
// values is an error naming the key.
type MatrixGenerator struct {
	Generators []Generator `json:"generators"`
}

// MergeGenerator yields the first generator's parameter sets, each overridden by the set of every
// later generator that has equal values for all MergeKeys. Later sets matching no base set are
// dropped, as in Argo CD.
type MergeGenerator struct {
	MergeKeys  []string    `json:"mergeKeys"`
	Generators []Generator `json:"generators"`
}

// Cluster is one entry of the cluster registry seen by the cluster generator. The local cluster
// (https://kubernetes.default.svc) takes part only if the caller lists it.
type Cluster struct {
	Name        string
	Server      string
	Labels      map[string]string
	Annotations map[string]string
}

// Repo reads repositories for the git generator. Dirs lists every directory of the repository at
// revision as repository-relative, slash-separated paths; Files returns the files matching glob
// by repository-relative path.
type Repo interface {
	Dirs(ctx context.Context, repoURL, revision string) ([]string, error)
	Files(ctx context.Context, repoURL, revision, glob string) (map[string][]byte, error)
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

// matrix runs the cartesian product of m's generators.
func (g *generation) matrix(ctx context.Context, m *MatrixGenerator, at string, scope map[string]any) ([]map[string]any, error) {
	if len(m.Generators) < 2 {
		return nil, fmt.Errorf("%s: needs at least two generators, has %d", at, len(m.Generators))
	}
	acc := []map[string]any{{}}
	for i, child := range m.Generators {
		childAt := fmt.Sprintf("%s.generators[%d]", at, i)
		var next []map[string]any
		for _, a := range acc {
			sets, err := g.run(ctx, child, childAt, overlay(scope, a))
			if err != nil {
				return nil, err
			}
			for _, b := range sets {
				c, err := combine(a, b)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", childAt, err)
				}
				next = append(next, c)
			}
		}
		acc = next
	}
	return acc, nil
}

// combine returns the union of a and b. A key both hold must have equal values; nested objects
// (goTemplate mode) are combined key by key. Argo CD reports such conflicts in flat mode and
// silently keeps a's value in goTemplate mode; Ferry reports them in both.
func combine(a, b map[string]any) (map[string]any, error) {
	out := maps.Clone(a)
	for _, k := range slices.Sorted(maps.Keys(b)) {
		av, ok := out[k]
		if !ok {
			out[k] = b[k]
			continue
		}
		v, err := combineValue(k, av, b[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func combineValue(key string, a, b any) (any, error) {
	am, aok := asMap(a)
	bm, bok := asMap(b)
	if aok && bok {
		out := maps.Clone(am)
		for _, k := range slices.Sorted(maps.Keys(bm)) {
			if av, ok := out[k]; ok {
				v, err := combineValue(key+"."+k, av, bm[k])
				if err != nil {
					return nil, err
				}
				out[k] = v
			} else {
				out[k] = bm[k]
			}
		}
		return out, nil
	}
	if reflect.DeepEqual(a, b) {
		return a, nil
	}
	return nil, fmt.Errorf("parameter %q has conflicting values %s (earlier generator) and %s", key, show(a), show(b))
}

// merge runs m's generators and overrides the first one's sets with the later ones' matching sets.
func (g *generation) merge(ctx context.Context, m *MergeGenerator, at string, scope map[string]any) ([]map[string]any, error) {
	if len(m.Generators) < 2 {
		return nil, fmt.Errorf("%s: needs at least two generators, has %d", at, len(m.Generators))
	}
	if len(m.MergeKeys) == 0 {
		return nil, fmt.Errorf("%s: mergeKeys is empty", at)
	}
	var out []map[string]any
	var baseKeys []string
	for i, child := range m.Generators {
		childAt := fmt.Sprintf("%s.generators[%d]", at, i)
		sets, err := g.run(ctx, child, childAt, scope)
		if err != nil {
			return nil, err
		}
		keys, byKey, err := indexByMergeKeys(sets, m.MergeKeys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", childAt, err)
		}
		if i == 0 {
			out, baseKeys = slices.Clone(sets), keys
			continue
		}
		for j, k := range baseKeys {
			if over, ok := byKey[k]; ok {
				out[j] = overlay(out[j], over)
			}
		}
	}
	return out, nil
}

// indexByMergeKeys returns, for each set, the JSON encoding of its merge key values, and the sets
// by that encoding. A set without one of the keys, or two sets with the same values, is an error.
func indexByMergeKeys(sets []map[string]any, mergeKeys []string) ([]string, map[string]map[string]any, error) {
	keys := make([]string, len(sets))
	byKey := make(map[string]map[string]any, len(sets))
	first := make(map[string]int, len(sets))
	for i, set := range sets {
		values := make([]any, len(mergeKeys))
		for j, mk := range mergeKeys {
			v, ok := lookup(set, mk)
			if !ok {
				return nil, nil, fmt.Errorf("parameter set %d has no merge key %q", i, mk)
			}
			values[j] = v
		}
		raw, err := json.Marshal(values)
		if err != nil {
			return nil, nil, fmt.Errorf("parameter set %d: merge key values: %w", i, err)
		}
		k := string(raw)
		if j, dup := first[k]; dup {
			return nil, nil, fmt.Errorf("parameter sets %d and %d have the same merge key values %s", j, i, k)
		}
		first[k], keys[i], byKey[k] = i, k, set
	}
	return keys, byKey, nil
}

// lookup finds key in set: as a flat name, or else as a dotted path into nested objects.
func lookup(set map[string]any, key string) (any, bool) {
	if v, ok := set[key]; ok {
		return v, true
	}
	var cur any = set
	for part := range strings.SplitSeq(key, ".") {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
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

// list yields the list generator's elements.
func (g *generation) list(l *ListGenerator) ([]map[string]any, error) {
	sets := []map[string]any{}
	for i, raw := range l.Elements {
		el, err := decodeJSON(raw, !g.in.GoTemplate)
		if err != nil {
			return nil, fmt.Errorf("elements[%d]: %w", i, err)
		}
		set, err := g.elementParams(el)
		if err != nil {
			return nil, fmt.Errorf("elements[%d]: %w", i, err)
		}
		sets = append(sets, set)
	}
	if strings.TrimSpace(l.ElementsYaml) == "" {
		return sets, nil
	}
	var els []any
	if err := yaml.Unmarshal([]byte(l.ElementsYaml), &els, g.numbers); err != nil {
		return nil, fmt.Errorf("elementsYaml: %w", err)
	}
	for i, el := range els {
		set, err := g.elementParams(el)
		if err != nil {
			return nil, fmt.Errorf("elementsYaml[%d]: %w", i, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
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

// clusters yields one set per matching cluster.
func (g *generation) clusters(c *ClusterGenerator) ([]map[string]any, error) {
	if err := checkSelector(&c.Selector); err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	sets := []map[string]any{}
	for _, cl := range g.in.Clusters {
		if !selectorMatches(&c.Selector, cl.Labels) {
			continue
		}
		set := map[string]any{
			"name":           cl.Name,
			"nameNormalized": normalize(cl.Name),
			"server":         cl.Server,
			"project":        "",
		}
		if g.in.GoTemplate {
			set["metadata"] = map[string]any{
				"labels":      cloneStrings(cl.Labels),
				"annotations": cloneStrings(cl.Annotations),
			}
		} else {
			for k, v := range cl.Labels {
				set["metadata.labels."+k] = v
			}
			for k, v := range cl.Annotations {
				set["metadata.annotations."+k] = v
			}
		}
		if err := g.addValues(set, c.Values); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
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

// git runs a git directory or file generator.
func (g *generation) git(ctx context.Context, spec *GitGenerator) ([]map[string]any, error) {
	switch {
	case g.in.Repo == nil:
		return nil, errors.New("no repository reader configured")
	case len(spec.Directories) > 0 && len(spec.Files) > 0:
		return nil, errors.New("both directories and files are set; use one")
	case len(spec.Directories) > 0:
		return g.gitDirectories(ctx, spec)
	case len(spec.Files) > 0:
		return g.gitFiles(ctx, spec)
	default:
		return nil, errors.New("neither directories nor files is set")
	}
}

// gitDirectories yields one set per directory matched by an include entry and no exclude entry.
func (g *generation) gitDirectories(ctx context.Context, spec *GitGenerator) ([]map[string]any, error) {
	for i, d := range spec.Directories {
		if _, err := path.Match(d.Path, ""); err != nil {
			return nil, fmt.Errorf("directories[%d]: pattern %q: %w", i, d.Path, err)
		}
	}
	dirs, err := g.in.Repo.Dirs(ctx, spec.RepoURL, spec.Revision)
	if err != nil {
		return nil, fmt.Errorf("listing the directories of %s at %q: %w", spec.RepoURL, spec.Revision, err)
	}
	dirs = slices.Clone(dirs)
	slices.Sort(dirs)
	sets := []map[string]any{}
	for _, dir := range slices.Compact(dirs) {
		if !dirSelected(spec.Directories, dir) {
			continue
		}
		set := map[string]any{}
		g.addPathParams(set, spec.PathParamPrefix, dir, "")
		if err := g.addValues(set, spec.Values); err != nil {
			return nil, fmt.Errorf("directory %s: %w", dir, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// dirSelected reports whether an include entry matches dir and no exclude entry does (patterns
// are checked beforehand).
func dirSelected(entries []GitDirectory, dir string) bool {
	included := false
	for _, e := range entries {
		if ok, _ := path.Match(e.Path, dir); ok {
			if e.Exclude {
				return false
			}
			included = true
		}
	}
	return included
}

// gitFiles yields one set per object in the files matched by an include entry and no exclude
// entry, in path order.
func (g *generation) gitFiles(ctx context.Context, spec *GitGenerator) ([]map[string]any, error) {
	files := map[string][]byte{}
	for _, exclude := range []bool{false, true} {
		for _, f := range spec.Files {
			if f.Exclude != exclude {
				continue
			}
			got, err := g.in.Repo.Files(ctx, spec.RepoURL, spec.Revision, f.Path)
			if err != nil {
				return nil, fmt.Errorf("reading files %q of %s at %q: %w", f.Path, spec.RepoURL, spec.Revision, err)
			}
			for name, data := range got {
				if exclude {
					delete(files, name)
				} else {
					files[name] = data
				}
			}
		}
	}
	sets := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		objs, err := g.parseFile(files[name])
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		for _, obj := range objs {
			set, err := g.elementParams(obj)
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", name, err)
			}
			g.addPathParams(set, spec.PathParamPrefix, path.Dir(name), name)
			if err := g.addValues(set, spec.Values); err != nil {
				return nil, fmt.Errorf("file %s: %w", name, err)
			}
			sets = append(sets, set)
		}
	}
	return sets, nil
}

// parseFile decodes a JSON or YAML file holding an object or a list of objects. An empty file
// or list yields one empty object (only the path parameters), as in Argo CD.
func (g *generation) parseFile(data []byte) ([]any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc, g.numbers); err != nil {
		return nil, err
	}
	switch doc := doc.(type) {
	case nil:
		return []any{map[string]any{}}, nil
	case map[string]any:
		return []any{doc}, nil
	case []any:
		if len(doc) == 0 {
			return []any{map[string]any{}}, nil
		}
		return doc, nil
	default:
		return nil, fmt.Errorf("holds %s, not an object or a list of objects", show(doc))
	}
}

// addPathParams adds the path parameters of dir (and of file, for the file generator):
// path, path.basename, path.basenameNormalized, path.filename, path.filenameNormalized and
// path[i] per non-empty segment in flat mode; .path.path, .path.basename, ...,
// .path.segments in goTemplate mode. A prefix moves them under <prefix>.path.
func (g *generation) addPathParams(set map[string]any, prefix, dir, file string) {
	base := path.Base(dir)
	if g.in.GoTemplate {
		p := map[string]any{
			"path":               dir,
			"basename":           base,
			"basenameNormalized": normalize(base),
			"segments":           strings.Split(dir, "/"),
		}
		if file != "" {
			p["filename"] = path.Base(file)
			p["filenameNormalized"] = normalize(path.Base(file))
		}
		if prefix != "" {
			set[prefix] = map[string]any{"path": p}
		} else {
			set["path"] = p
		}
		return
	}
	name := "path"
	if prefix != "" {
		name = prefix + ".path"
	}
	set[name] = dir
	set[name+".basename"] = base
	set[name+".basenameNormalized"] = normalize(base)
	if file != "" {
		set[name+".filename"] = path.Base(file)
		set[name+".filenameNormalized"] = normalize(path.Base(file))
	}
	for i, seg := range strings.Split(dir, "/") {
		if seg != "" {
			set[name+"["+strconv.Itoa(i)+"]"] = seg
		}
	}
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
