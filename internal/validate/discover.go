package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/render"
)

// Unit kinds.
const (
	UnitApplication   = "application"
	UnitKustomization = "kustomization"
	UnitDirectory     = "directory"
	UnitChart         = "chart"
)

// Unit is one thing the repository deploys, rendered on its own.
type Unit struct {
	// Name identifies the unit in reports: "application argocd/myapp
	// (apps/staging/myapp)", "kustomization apps/production/myapp",
	// "directory clusters/production", "chart charts/platform".
	Name string
	Kind string
	// Path is the repository-relative directory rendered.
	Path string
	// Source is what the renderer is given.
	Source render.Source
	// Namespace is the destination namespace of an Application's source,
	// given to namespaced objects without one (as a sync would).
	Namespace string
	// File and Line locate the Application manifest of an application unit.
	File string
	Line int
	// Application is an application unit's manifest, as read.
	Application *v1alpha1.Application
}

// Discover finds the units of the repository in fsys:
//
//   - every source of every Argo CD Application manifest in it (spec.source
//     or spec.sources) that names a path, rendered with the Application's
//     directory, kustomize and helm options (see helmUnitSource for charts);
//     a chart from a Helm repository is not in the repository and is only
//     noted;
//   - every Helm chart (a directory with a Chart.yaml) that no Application
//     renders, with its default values (see chartUnit);
//   - every kustomization root: a directory with a kustomization that no
//     other kustomization includes (overlays, not the bases they include,
//     which would be reported twice);
//   - every other directory holding Kubernetes manifests that no
//     kustomization reads (the files a kustomization names as resources,
//     patches or generator inputs are part of it).
//
// A directory an Application renders is not also reported as a chart,
// kustomization or directory unit. Nothing inside a chart is discovered on
// its own: templates are not manifests until rendered, values files are not
// manifests at all, and charts/ holds subcharts, so only the chart's unit
// covers them. Hidden directories are skipped. Problems reading Application
// manifests are findings, so one bad file does not hide the rest.
func Discover(fsys fs.FS) ([]Unit, []Finding, error) {
	d := &discovery{fsys: fsys, consumed: map[string]bool{}, kustomizations: map[string]bool{}, manifestDirs: map[string][]string{},
		named: map[string]bool{}}
	if err := fs.WalkDir(fsys, ".", d.visit); err != nil {
		return nil, nil, err
	}
	return d.units(), d.findings, nil
}

type discovery struct {
	fsys           fs.FS
	apps           []Unit
	findings       []Finding
	kustomizations map[string]bool     // directory → has a kustomization
	consumed       map[string]bool     // paths a kustomization reads
	manifestDirs   map[string][]string // directory → its manifest files
	dirs           []string            // in walk order
	charts         []string            // chart directories, in walk order
	named          map[string]bool     // paths Applications render, units or not
}

func (d *discovery) visit(p string, e fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if e.IsDir() {
		if p != "." && strings.HasPrefix(e.Name(), ".") {
			return fs.SkipDir
		}
		if isChartDir(d.fsys, p) {
			d.charts = append(d.charts, p)
			return fs.SkipDir // the chart's unit covers all of it
		}
		d.dirs = append(d.dirs, p)
		return nil
	}
	dir := path.Dir(p)
	if slices.Contains(render.KustomizationNames, e.Name()) {
		d.kustomizations[dir] = true
		return d.readKustomization(p)
	}
	if !render.IsManifestFile(e.Name()) {
		return nil
	}
	data, err := fs.ReadFile(d.fsys, p)
	if err != nil {
		return err
	}
	docs, isK8s := documents(data)
	if isK8s {
		d.manifestDirs[dir] = append(d.manifestDirs[dir], p)
	}
	for _, doc := range docs {
		if doc.kind == "Application" && strings.HasPrefix(doc.apiVersion, "argoproj.io/") {
			d.addApplication(p, doc)
		}
	}
	return nil
}

// document is one YAML document of a file: its type and first line.
type document struct {
	apiVersion, kind string
	line             int
	data             []byte
}

// documents splits a file into its documents and reports whether any is a
// Kubernetes object (has apiVersion and kind). Unparseable documents are
// left to the renderer, which reports them with their line.
func documents(data []byte) ([]document, bool) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []document
	line, isK8s := 1, false
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) || err != nil {
			return out, isK8s
		}
		start := line + leadingLines(doc)
		line += bytes.Count(doc, []byte("\n")) + 1 // the separator line
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if yaml.Unmarshal(doc, &meta) != nil || meta.APIVersion == "" || meta.Kind == "" {
			continue
		}
		isK8s = true
		out = append(out, document{apiVersion: meta.APIVersion, kind: meta.Kind, line: start, data: doc})
	}
}

// leadingLines counts the blank and comment lines before a document's
// content.
func leadingLines(doc []byte) int {
	n := 0
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			break
		}
		n++
	}
	return n
}

// addApplication adds a unit for every source of an Application manifest
// that names a path in this repository. A path is taken to be in this
// repository whatever the source's repoURL says: validate reads one
// checkout and cannot tell from inside it which URL it is pushed to.
func (d *discovery) addApplication(file string, doc document) {
	app := &v1alpha1.Application{}
	if err := yaml.Unmarshal(doc.data, app); err != nil {
		d.findings = append(d.findings, Finding{Rule: "render", Severity: SeverityError, File: file, Line: doc.line,
			Message: fmt.Sprintf("Application manifest cannot be read: %v", err)})
		return
	}
	ns := app.Namespace
	if ns == "" {
		ns = "argocd"
	}
	sources := appstate.Sources(app)
	for i, src := range sources {
		if appstate.IsChart(src) {
			d.findings = append(d.findings, Finding{Rule: "render", Severity: SeverityInfo, File: file, Line: doc.line,
				Message: fmt.Sprintf("Application %s/%s: chart %s from %s is not in this repository and is not validated (ferry validate fetches nothing)",
					ns, app.Name, src.Chart, src.RepoURL)})
			continue
		}
		if src.Path == "" {
			continue // not a directory of this repository, or a ref lending it to value files
		}
		p := path.Clean(src.Path)
		d.named[p] = true
		name := fmt.Sprintf("application %s/%s (%s)", ns, app.Name, p)
		if len(sources) > 1 {
			name = fmt.Sprintf("application %s/%s (%s, source %d)", ns, app.Name, p, i+1)
		}
		u := Unit{
			Name: name, Kind: UnitApplication, Path: p, Source: appstate.RenderSource(src),
			Namespace: app.Spec.Destination.Namespace, File: file, Line: doc.line, Application: app,
		}
		if src.Helm != nil || isChartDir(d.fsys, p) {
			if err := d.helmUnitSource(&u, app, src); err != nil {
				d.findings = append(d.findings, Finding{Rule: "render", Severity: SeverityError, Unit: name, File: file, Line: doc.line,
					Message: fmt.Sprintf("Application %s/%s: %v", ns, app.Name, err)})
				continue
			}
		}
		d.apps = append(d.apps, u)
	}
}

// readKustomization marks what a kustomization reads as consumed: every
// string value in it that names an existing file or directory relative to
// its directory (resources, bases, components, patches, generator files…).
func (d *discovery) readKustomization(file string) error {
	data, err := fs.ReadFile(d.fsys, file)
	if err != nil {
		return err
	}
	var v any
	if yaml.Unmarshal(data, &v) != nil {
		return nil // the renderer reports it, with its line
	}
	dir := path.Dir(file)
	walkStrings(v, func(s string) {
		if strings.Contains(s, "://") || strings.ContainsAny(s, "\n=") || s == "" {
			return
		}
		p := path.Clean(path.Join(dir, strings.TrimSpace(s)))
		if !fs.ValidPath(p) || p == dir {
			return
		}
		if _, err := fs.Stat(d.fsys, p); err == nil {
			d.consumed[p] = true
		}
	})
	return nil
}

func walkStrings(v any, fn func(string)) {
	switch t := v.(type) {
	case string:
		fn(t)
	case []any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	}
}

// units assembles the units: Applications first, then the charts no
// Application renders, then kustomization roots and plain directories in
// path order, each path once.
func (d *discovery) units() []Unit {
	units := append([]Unit(nil), d.apps...)
	covered := map[string]bool{}
	for _, u := range d.apps {
		covered[u.Path] = true
	}
	slices.Sort(d.charts)
	for _, dir := range d.charts {
		if d.named[dir] {
			continue // rendered as the Application says, or reported
		}
		if u, ok := d.chartUnit(dir); ok {
			units = append(units, u)
		}
	}
	slices.Sort(d.dirs)
	for _, dir := range d.dirs {
		if covered[dir] {
			continue
		}
		switch {
		case d.kustomizations[dir]:
			if !d.consumed[dir] {
				units = append(units, Unit{Name: "kustomization " + dir, Kind: UnitKustomization, Path: dir, Source: render.Source{Path: dir}})
			}
		case len(d.manifestDirs[dir]) > 0 && !d.consumed[dir] && !d.insideKustomization(dir):
			if u, ok := d.directoryUnit(dir); ok {
				units = append(units, u)
			}
		}
	}
	return units
}

// insideKustomization reports whether a parent directory is a
// kustomization that includes dir.
func (d *discovery) insideKustomization(dir string) bool {
	for p := dir; p != "." && p != "/"; p = path.Dir(p) {
		if d.consumed[p] {
			return true
		}
	}
	return false
}

// directoryUnit renders the manifest files of dir that no kustomization
// reads.
func (d *discovery) directoryUnit(dir string) (Unit, bool) {
	var skip []string
	for _, f := range d.manifestDirs[dir] {
		if d.consumed[f] {
			skip = append(skip, path.Base(f))
		}
	}
	if len(skip) == len(d.manifestDirs[dir]) {
		return Unit{}, false
	}
	src := render.Source{Path: dir}
	if len(skip) > 0 {
		src.Directory = &render.DirectoryOptions{Exclude: "{" + strings.Join(skip, ",") + "}"}
	}
	return Unit{Name: "directory " + dir, Kind: UnitDirectory, Path: dir, Source: src}, true
}

// objectName names an object in reports: "apps/v1 Deployment staging/web".
func objectName(u *unstructured.Unstructured) string {
	name := u.GetName()
	if name == "" {
		name = u.GetGenerateName() + "*"
	}
	if ns := u.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return u.GetAPIVersion() + " " + u.GetKind() + " " + name
}
