package validate

import (
	"errors"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/render"
)

// isChartDir is render.IsChartDir; a directory whose Chart.yaml cannot be
// read is not a chart here (its render, if any, says why).
func isChartDir(fsys fs.FS, dir string) bool {
	ok, _ := render.IsChartDir(fsys, dir)
	return ok
}

// helmUnitSource gives an Application unit's source the Helm options the
// controller would (appstate.HelmOptions: the release is the Application's
// name, in its destination namespace), with Helm's default capabilities:
// validate runs in CI, with no cluster to ask.
//
// Every "$ref/..." value file is read from this repository. The ref source's
// repoURL cannot be matched to this checkout from inside it, and the common
// layout (Argo CD's own example) keeps the value files in the repository
// that holds the Applications; a value file that is not here then is a
// render finding naming it, not something fetched.
//
// Chart dependencies that charts/ does not hold are refused (no fetcher):
// validate never reaches the network.
func (d *discovery) helmUnitSource(u *Unit, app *v1alpha1.Application, src v1alpha1.ApplicationSource) error {
	o, err := appstate.HelmOptions(src, app.Name, app.Spec.Destination.Namespace, appstate.Capabilities{})
	if err != nil {
		return err
	}
	u.Source.Helm = o
	for _, s := range appstate.Sources(app) {
		if s.Ref == "" {
			continue
		}
		if u.Source.Refs == nil {
			u.Source.Refs = map[string]fs.FS{}
		}
		u.Source.Refs[s.Ref] = d.fsys
	}
	return nil
}

// chartUnit is the unit of a chart that no Application renders: released
// as its directory's name with the chart's default values, as `helm
// template` renders it. A library chart renders nothing on its own (the
// charts using it do), so it is no unit.
func (d *discovery) chartUnit(dir string) (Unit, bool) {
	data, err := fs.ReadFile(d.fsys, path.Join(dir, render.ChartFile))
	if err == nil {
		var meta struct {
			Type string `json:"type"`
		}
		if yaml.Unmarshal(data, &meta) == nil && meta.Type == "library" {
			return Unit{}, false
		}
	} // else the render reports it
	src := render.Source{Path: dir, Helm: &render.HelmOptions{ReleaseName: releaseName(dir)}}
	return Unit{Name: "chart " + dir, Kind: UnitChart, Path: dir, Source: src}, true
}

// releaseName makes a Helm release name of a directory's base name: Helm
// wants a lowercase DNS name of at most 53 characters, which a directory
// name need not be ("My_Chart"), and a standalone chart has no Application
// to name its release.
func releaseName(dir string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, path.Base(dir))
	if len(name) > 53 {
		name = name[:53]
	}
	if name = strings.Trim(name, "-"); name == "" {
		return "release-name" // helm template's own default
	}
	return name
}

// templateRef finds a chart template in a Helm error: Helm names templates
// "<chart>/templates/x.yaml" (or "<chart>/charts/<sub>/templates/x.yaml"),
// in parse errors "(…:LINE)", execution errors "(…:LINE:COL)" and the
// "# Source:" name internal/helm gives a document that does not decode.
var templateRef = regexp.MustCompile(`(?:^|[\s("'])[\w.-]+/((?:charts/[\w.-]+/)*templates/[\w./-]*\w)(?::(\d+))?`)

// helmLocation refines a Helm unit's render finding: the template the error
// names, as a repository path when the chart directory holds it, with its
// line; or the value file at fault, as a repository path.
func helmLocation(f *Finding, u *Unit, fsys fs.FS, err error) {
	if m := templateRef.FindStringSubmatch(err.Error()); m != nil {
		file := path.Join(u.Path, m[1])
		if info, statErr := fs.Stat(fsys, file); statErr == nil && !info.IsDir() {
			f.File, f.Line = file, 0
			if n, convErr := strconv.Atoi(m[2]); convErr == nil {
				f.Line = n
			}
			return
		}
	}
	var re *render.Error
	if !errors.As(err, &re) || u.Source.Helm == nil {
		return
	}
	named := u.Source.Helm.ValueFiles
	for _, fp := range u.Source.Helm.FileParameters {
		named = append(named, fp.Path)
	}
	for _, name := range named {
		if re.File != name || strings.Contains(name, "://") {
			continue
		}
		// "$ref/path" is read from this repository (helmUnitSource), any
		// other name relative to the chart.
		file := path.Join(u.Path, name)
		if ref, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(ref, "$") {
			file = path.Clean(rest)
		}
		if fs.ValidPath(file) { // else it leaves the repository, and the message says so
			f.File = file
		}
		return
	}
}
