package render

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// checkKustomization walks the graph of kustomizations reachable from the kustomization file
// before kustomize runs, and refuses what Ferry does not allow:
//
//   - remote references (ErrRemoteReference). kustomize clones a base that looks like a Git URL
//     with the git binary, and fetches any file path with an http(s) scheme, before its load
//     restrictions apply; neither can be turned off through krusty, so they are refused here,
//     in every field kustomize loads a path from;
//   - paths that leave the repository (ErrOutsideRepository). kustomize confines files to their
//     kustomization's directory (LoadRestrictionsRootOnly), but lets bases and components live
//     anywhere; the adapter confines them to the repository, this names the entry;
//   - Helm chart inflation unless the policy enables it, plugins other than kustomize's
//     builtins, and custom OpenAPI schemas (ErrNotAllowed). kustomize would refuse the first two
//     too (its Helm support and plugins are disabled); a custom schema would replace kustomize's
//     process-wide schema for every concurrent render.
//
// With Helm enabled, it returns the kustomizations that declare helmCharts, in the order it
// visited them, for inflateCharts to render before kustomize runs.
//
// Everything else (missing files, malformed kustomizations) is left for kustomize to report.
func checkKustomization(ctx context.Context, fsys fs.FS, dir string, maxBytes int64, policy kustomizePolicy) ([]*chartSite, error) {
	w := &policyWalker{ctx: ctx, fsys: fsys, maxBytes: maxBytes, policy: policy, root: dir,
		seen: map[string]bool{}, sites: map[string]*chartSite{}}
	if err := w.kustomization(dir, false, ""); err != nil {
		return nil, err
	}
	return w.order, nil
}

// kustomizePolicy is what checkKustomization allows beyond its fixed rules.
type kustomizePolicy struct {
	// helm lets kustomizations declare helmCharts (KustomizeOptions.EnableHelm).
	helm bool
	// namespace, when set, is the root kustomization's namespace for its charts: Argo CD sets
	// KustomizeOptions.Namespace with `kustomize edit set namespace`, which replaces the root's
	// own, and kustomize passes a kustomization's namespace to its charts and its bases' charts.
	namespace string
	// kubeVersion and apiVersions, when set, are what every chart's templates see of the
	// cluster: Argo CD passes the destination's to kustomize (--helm-kube-version,
	// --helm-api-versions), overriding the charts' own kubeVersion and apiVersions.
	kubeVersion string
	apiVersions []string
}

type policyWalker struct {
	ctx      context.Context
	fsys     fs.FS
	maxBytes int64
	policy   kustomizePolicy
	root     string
	seen     map[string]bool
	sites    map[string]*chartSite // by directory
	order    []*chartSite
}

// reference is one path-like entry of a kustomization.
type reference struct {
	field  string // where it comes from, e.g. "resources"
	value  string
	follow bool // the entry may be a directory holding another kustomization
	plugin bool // the entry may be (or hold) generator/transformer/validator configurations
}

// kustomization checks the kustomization in dir; plugins is set when its resources are plugin
// configurations (it was reached through generators, transformers or validators). inherited is
// the namespace kustomize passes down to dir's charts from the kustomizations above it (with
// Helm enabled only: a base reached through overlays with different namespaces is visited once
// per namespace).
func (w *policyWalker) kustomization(dir string, plugins bool, inherited string) error {
	key := fmt.Sprintf("%s\x00%t\x00%s", dir, plugins, inherited)
	if w.seen[key] {
		return nil
	}
	w.seen[key] = true
	if err := w.ctx.Err(); err != nil {
		return context.Cause(w.ctx)
	}
	name, err := findKustomization(w.fsys, dir)
	if err != nil || name == "" {
		return err
	}
	file := path.Join(dir, name)
	data, err := w.read(file)
	if err != nil {
		return err
	}
	// Decode as kustomize does (YAML to JSON, then encoding/json), only less strictly: whatever
	// fails here fails kustomize's own decoding too, before it loads anything.
	var k types.Kustomization
	j, err := yaml.YAMLToJSON(data)
	if err != nil || json.Unmarshal(j, &k) != nil {
		return nil
	}
	if len(k.OpenAPI) > 0 {
		return &Error{File: file, Err: fmt.Errorf(
			"%w: openapi: custom OpenAPI schemas are not supported (kustomize holds the schema process-wide)", ErrNotAllowed)}
	}
	// The namespace kustomize gives the charts of this kustomization and of its bases.
	namespace := ""
	if w.policy.helm {
		namespace = k.Namespace
		if dir == w.root && !plugins && w.policy.namespace != "" {
			namespace = w.policy.namespace
		}
		if namespace == "" {
			namespace = inherited
		}
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
		if err := w.helmCharts(dir, file, data, plugins, namespace); err != nil {
			return err
		}
	}
	for _, ref := range kustomizationReferences(&k, plugins) {
		if err := w.reference(dir, file, ref, namespace); err != nil {
			return err
		}
	}
	return nil
}

// helmCharts records the kustomization in file as one whose charts Ferry inflates, or refuses
// it when Helm is disabled.
func (w *policyWalker) helmCharts(dir, file string, data []byte, plugins bool, namespace string) error {
	if !w.policy.helm {
		return &Error{File: file, Err: fmt.Errorf(
			"%w: helmCharts: Helm chart inflation is disabled; enable it with kustomize.buildOptions --enable-helm", ErrNotAllowed)}
	}
	if plugins {
		return &Error{File: file, Err: fmt.Errorf(
			"%w: helmCharts in a kustomization used as generators, transformers or validators are not supported", ErrNotAllowed)}
	}
	if site, ok := w.sites[dir]; ok {
		if site.namespace != namespace && slices.ContainsFunc(site.charts, func(c types.HelmChart) bool { return c.Namespace == "" }) {
			return &Error{File: file, Err: fmt.Errorf(
				"%w: helmCharts: the kustomization is included with namespace %q and with namespace %q; "+
					"Ferry inflates its charts once: set the charts' namespace", ErrNotAllowed, site.namespace, namespace)}
		}
		return nil
	}
	// Decoded again as kustomize decodes it, strictly: what does not decode is left for
	// kustomize to report, and kustomize never inflates it.
	var k types.Kustomization
	if k.Unmarshal(data) != nil {
		return nil
	}
	site := &chartSite{dir: dir, file: file, kustomization: k, namespace: namespace,
		kubeVersion: w.policy.kubeVersion, apiVersions: w.policy.apiVersions}
	site.charts, site.globals = kustomizationCharts(&k)
	w.sites[dir] = site
	w.order = append(w.order, site)
	return nil
}

// kustomizationReferences lists every entry of k that kustomize loads a path (or URL) from.
func kustomizationReferences(k *types.Kustomization, plugins bool) []reference {
	var refs []reference
	add := func(field string, follow, plugin bool, values ...string) {
		for _, v := range values {
			refs = append(refs, reference{field: field, value: v, follow: follow, plugin: plugin})
		}
	}
	add("resources", true, plugins, k.Resources...)
	add("bases", true, plugins, k.Bases...)
	add("components", true, plugins, k.Components...)
	add("generators", true, true, k.Generators...)
	add("transformers", true, true, k.Transformers...)
	add("validators", true, true, k.Validators...)
	add("crds", false, false, k.Crds...)
	add("configurations", false, false, k.Configurations...)
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") { // otherwise an inline patch
			add("patchesStrategicMerge", false, false, string(p))
		}
	}
	for _, p := range slices.Concat(k.Patches, k.PatchesJson6902) {
		if p.Path != "" {
			add("patches", false, false, p.Path)
		}
	}
	for _, r := range k.Replacements {
		if r.Path != "" {
			add("replacements", false, false, r.Path)
		}
	}
	for _, g := range k.ConfigMapGenerator {
		add("configMapGenerator", false, false, kvFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		add("secretGenerator", false, false, kvFiles(g.KvPairSources)...)
	}
	return refs
}

// kvFiles returns the file paths of a generator's sources ("files" entries may be "key=path").
func kvFiles(s types.KvPairSources) []string {
	var files []string
	for _, f := range s.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		files = append(files, f)
	}
	files = append(files, s.EnvSources...)
	if s.EnvSource != "" {
		files = append(files, s.EnvSource)
	}
	return files
}

func (w *policyWalker) reference(dir, file string, ref reference, namespace string) error {
	if ref.plugin && (ref.field == "generators" || ref.field == "transformers" || ref.field == "validators") {
		// kustomize takes an entry that parses as objects as an inline configuration.
		if configs := decodeLoose([]byte(ref.value)); len(configs) > 0 {
			return checkPluginConfigs(file, configs)
		}
	}
	if isRemote(ref.value) {
		return &Error{File: file, Err: fmt.Errorf(
			"%w: %s entry %q: remote bases and resources are never fetched; vendor them into the repository",
			ErrRemoteReference, ref.field, ref.value)}
	}
	if path.IsAbs(ref.value) {
		return &Error{File: file, Err: fmt.Errorf("%w: %s entry %q is absolute", ErrOutsideRepository, ref.field, ref.value)}
	}
	target := path.Join(dir, ref.value)
	if target == ".." || strings.HasPrefix(target, "../") {
		return &Error{File: file, Err: fmt.Errorf(
			"%w: %s entry %q leaves the repository", ErrOutsideRepository, ref.field, ref.value)}
	}
	if !ref.follow {
		return nil
	}
	info, err := fs.Stat(w.fsys, target)
	if err != nil {
		if absent(err) {
			return nil // kustomize reports it, with its context
		}
		return &Error{File: target, Err: err}
	}
	if info.IsDir() {
		return w.kustomization(target, ref.plugin, namespace)
	}
	if !ref.plugin {
		return nil
	}
	data, err := w.read(target)
	if err != nil {
		return err
	}
	return checkPluginConfigs(target, decodeLoose(data))
}

// read reads a kustomization or plugin configuration, bounded by MaxBytes.
func (w *policyWalker) read(file string) ([]byte, error) {
	b := &budget{limits: Limits{MaxBytes: w.maxBytes}}
	data, err := b.readFile(w.fsys, file)
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	return data, nil
}

// pluginPathKeys are the fields of kustomize's builtin generators and transformers that name a
// file kustomize loads (PatchTransformer.path, PatchStrategicMergeTransformer.paths,
// ReplacementTransformer.replacements[].path, ConfigMap/SecretGenerator files/envs/env,
// ValueAddTransformer.targetFilePath). kustomize decodes plugin configurations with encoding/json,
// so keys match case-insensitively.
var pluginPathKeys = []string{"path", "paths", "files", "envs", "env", "targetFilePath"}

// checkPluginConfigs checks generator, transformer and validator configurations declared in
// file: only kustomize's builtins may run, Helm is disabled, and none may load a remote file.
func checkPluginConfigs(file string, configs []map[string]any) error {
	for _, c := range configs {
		apiVersion, _ := c["apiVersion"].(string)
		kind, _ := c["kind"].(string)
		if apiVersion != "builtin" {
			return &Error{File: file, Err: fmt.Errorf(
				"%w: plugin %s %s: only kustomize's builtin generators, transformers and validators run; exec, Go and KRM function plugins are disabled",
				ErrNotAllowed, apiVersion, kind)}
		}
		if kind == "HelmChartInflationGenerator" {
			return &Error{File: file, Err: fmt.Errorf(
				"%w: %s: Helm chart inflation through a generator configuration is disabled; use helmCharts "+
					"in the kustomization (with kustomize.buildOptions --enable-helm)", ErrNotAllowed, kind)}
		}
		if err := checkPluginPaths(file, kind, c, 0); err != nil {
			return err
		}
	}
	return nil
}

func checkPluginPaths(file, kind string, v any, depth int) error {
	if depth > 64 {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		for key, val := range v {
			if isPluginPathKey(key) {
				for _, s := range stringsIn(val) {
					if _, p, ok := strings.Cut(s, "="); ok && strings.EqualFold(key, "files") {
						s = p
					}
					if isRemote(s) {
						return &Error{File: file, Err: fmt.Errorf(
							"%w: %s %s %q: remote files are never fetched", ErrRemoteReference, kind, key, s)}
					}
				}
			}
			if err := checkPluginPaths(file, kind, val, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, item := range v {
			if err := checkPluginPaths(file, kind, item, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func isPluginPathKey(key string) bool {
	for _, k := range pluginPathKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// stringsIn returns v if it is a string, or the strings of a list.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, item := range v {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// decodeLoose decodes the objects of a YAML stream, skipping what does not decode. The policy
// check uses it on configurations that kustomize will parse (and report on) again.
func decodeLoose(data []byte) []map[string]any {
	docs, err := splitYAML("", data)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, doc := range docs {
		j, err := yaml.YAMLToJSON(doc.data)
		if err != nil {
			continue
		}
		if v, err := decodeJSON(j); err == nil {
			if m, ok := v.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// userAtHost matches the "user@" that makes kustomize read an entry as an scp-style Git URL
// (git@github.com:org/repo).
var userAtHost = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would fetch value from the network (or clone it) instead of
// reading it from the repository. It is a superset of kustomize's own tests (its Git URL parser
// and its http(s) file loader): a "git::" prefix, any URL scheme ("https://", "ssh://",
// "file://", "https:x"), an scp-style "user@host:path", and the GitHub shorthand "github.com/…".
func isRemote(value string) bool {
	v := strings.TrimSpace(value)
	if len(v) >= 5 && strings.EqualFold(v[:5], "git::") {
		return true
	}
	if strings.Contains(v, "://") || userAtHost.MatchString(v) {
		return true
	}
	lower := strings.ToLower(v)
	if strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") {
		return true
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme != ""
}
