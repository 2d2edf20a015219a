package helm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Result is a chart's render.
type Result struct {
	// Objects are what `helm template` prints, in its order: the CRDs of
	// the crds/ directories (unless Options.SkipCRDs), the templates'
	// objects in Helm's install order, then the hooks (test hooks left out
	// with Options.SkipTests). List kinds are expanded into their items.
	Objects []*unstructured.Unstructured
	// Warnings say what the render could not do as a cluster would: at most
	// one, about lookup.
	Warnings []string
}

// Render renders ch as `helm template` does with the flags Argo CD passes
// (see the package documentation), in process. ch is not modified, and one
// chart may be rendered by many goroutines at once.
//
// Template execution cannot be interrupted: when ctx ends first, Render
// returns ctx's cause at once and the execution finishes in the
// background, its result dropped.
func Render(ctx context.Context, ch *chart.Chart, opts Options) (*Result, error) {
	if ch == nil || ch.Metadata == nil {
		return nil, errors.New("render: no chart")
	}
	if err := chartutil.ValidateReleaseName(opts.ReleaseName); err != nil {
		return nil, fmt.Errorf("render chart %s: release name %q: %w", ch.Name(), opts.ReleaseName, err)
	}
	if err := checkInstallable(ch); err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	caps, err := capabilities(opts)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	vals, err := opts.values()
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), err)
	}
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	c := copyChart(ch) // before returning: the caller may change ch once Render returns
	go func() {
		var o outcome
		defer func() {
			if r := recover(); r != nil {
				o = outcome{err: fmt.Errorf("helm panicked: %v", r)}
			}
			done <- o
		}()
		o.res, o.err = runTemplate(ctx, c, vals, caps, opts)
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("render chart %s: %w", ch.Name(), context.Cause(ctx))
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("render chart %s: %w", ch.Name(), o.err)
		}
		return o.res, nil
	}
}

// checkInstallable refuses what `helm template` refuses before rendering:
// a library chart, and dependencies Chart.yaml lists that charts/ lacks.
func checkInstallable(ch *chart.Chart) error {
	if t := ch.Metadata.Type; t != "" && t != "application" {
		return fmt.Errorf("%s charts are not installable", t)
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if d != nil && !slices.ContainsFunc(ch.Dependencies(), func(c *chart.Chart) bool { return c.Name() == d.Name }) {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependencies listed in Chart.yaml are missing from charts/ (helm dependency build vendors them): %s",
			strings.Join(missing, ", "))
	}
	return nil
}

// capabilities are .Capabilities: Helm's defaults for a render without a
// cluster, with the given Kubernetes version and additional API versions.
// Helm's own install action appends to the default set's slice, which
// other renders share; this builds a new one.
func capabilities(opts Options) (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	if opts.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	caps.APIVersions = slices.Concat(common.DefaultCapabilities.APIVersions, common.VersionSet(opts.APIVersions))
	return caps, nil
}

// runTemplate is the client-only path of Helm's install action (what `helm
// template` runs), on c, a copy of the chart this render may change.
func runTemplate(ctx context.Context, c *chart.Chart, vals map[string]any, caps *common.Capabilities, opts Options) (*Result, error) {
	if err := chartutil.ProcessDependencies(c, vals); err != nil {
		return nil, fmt.Errorf("chart dependencies: %w", err)
	}
	namespace := opts.Namespace
	if namespace == "" {
		namespace = "default"
	}
	rel := common.ReleaseOptions{Name: opts.ReleaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(c, vals, rel, caps, true)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	if !opts.SkipSchemaValidation {
		coalesced, _ := top["Values"].(common.Values)
		if err := validateSchemas(c, coalesced); err != nil {
			return nil, fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%w", err)
		}
	}
	if c.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	var lookupCalled atomic.Bool
	e := engine.Engine{
		// Helm's own placeholder, which also records that it was called
		// (from a string rendered with tpl, which no scan of the templates
		// sees). DNS lookups stay off (EnableDNS false).
		CustomTemplateFuncs: template.FuncMap{"lookup": func(string, string, string, string) (map[string]any, error) {
			lookupCalled.Store(true)
			return map[string]any{}, nil
		}},
	}
	files, err := e.RenderWithContext(ctx, c, top)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	objs, err := decode(printed(c, manifests, hooks, opts))
	if err != nil {
		return nil, err
	}
	res := &Result{Objects: objs}
	if w := lookupWarning(c, lookupCalled.Load()); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	return res, nil
}

// printed is what `helm template` prints: the manifest Helm's install
// action builds (CRDs when included, then the templates' objects), trimmed,
// then the hooks.
func printed(c *chart.Chart, manifests []releaseutil.Manifest, hooks []*release.Hook, opts Options) string {
	var b strings.Builder
	if !opts.SkipCRDs {
		for _, crd := range c.CRDObjects() {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
		}
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	out := strings.TrimSpace(b.String()) + "\n"
	b.Reset()
	b.WriteString(out)
	for _, h := range hooks {
		if opts.SkipTests && slices.Contains(h.Events, release.HookTest) {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String()
}

// copyChart copies what rendering changes: Helm's dependency processing
// rewrites a chart's dependency list, its Chart.yaml dependencies (enabled
// flags, aliases, import-values) and its values. Templates and files are
// shared, read only.
func copyChart(c *chart.Chart) *chart.Chart {
	out := *c
	if c.Metadata != nil {
		md := *c.Metadata
		md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
		for i, d := range c.Metadata.Dependencies {
			if d != nil {
				dc := *d
				md.Dependencies[i] = &dc
			}
		}
		if c.Metadata.Dependencies == nil {
			md.Dependencies = nil
		}
		out.Metadata = &md
	}
	out.Values, _ = copyValue(c.Values).(map[string]any)
	deps := c.Dependencies()
	out.SetDependencies()
	for _, d := range deps {
		out.AddDependency(copyChart(d))
	}
	return &out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = copyValue(x)
		}
		return m
	case []any:
		if v == nil {
			return v
		}
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = copyValue(x)
		}
		return l
	}
	return v
}
