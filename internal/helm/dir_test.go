package helm

import (
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"helm.sh/helm/v4/pkg/chart/common"
)

// repo is a repository snapshot holding files under dir.
func repo(dir string, files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[strings.TrimPrefix(dir+"/"+name, "./")] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	return fsys
}

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func fileNames(files []*common.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func TestLoadDir(t *testing.T) {
	fsys := repo("charts/app", appChart())
	ch, err := LoadDir(fsys, "charts/app", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if names := fileNames(ch.Files); slices.Contains(names, "README.orig") || !slices.Contains(names, ".helmignore") {
		t.Errorf("files = %v: README.orig should be ignored by .helmignore, .helmignore itself kept", names)
	}
	var deps []string
	for _, d := range ch.Dependencies() {
		deps = append(deps, d.Name())
	}
	if !slices.Equal(deps, []string{"lib", "sub"}) {
		t.Errorf("dependencies = %v, want the vendored lib and sub", deps)
	}
	// The same chart renders the same, from a directory or an archive.
	fromDir := mustRender(t, ch, Options{ReleaseName: "r"})
	fromArchive := mustRender(t, loadApp(t, nil), Options{ReleaseName: "r"})
	if !slices.Equal(kinds(fromDir), kinds(fromArchive)) {
		t.Errorf("from the directory: %v\nfrom the archive: %v", kinds(fromDir), kinds(fromArchive))
	}
}

func TestLoadDirHelmignore(t *testing.T) {
	files := withFiles(appChart(), map[string]string{
		".helmignore":            "# comments and blank lines\n\n*.orig\nsecrets/\n/local.yaml\n",
		"local.yaml":             "ignored at the root only\n",
		"files/local.yaml":       "kept: the rule is anchored\n",
		"templates/.hidden.yaml": "{{ fail \"Helm's default rule ignores dotfiles in templates/\" }}",
	})
	fsys := repo("app", files)
	// An irregular file in an ignored directory is never looked at.
	fsys["app/secrets/pipe"] = &fstest.MapFile{Mode: fs.ModeNamedPipe}
	ch, err := LoadDir(fsys, "app", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	names := fileNames(ch.Files)
	for _, ignored := range []string{"README.orig", "local.yaml", "secrets/pipe"} {
		if slices.Contains(names, ignored) {
			t.Errorf("%s was loaded; files = %v", ignored, names)
		}
	}
	for _, kept := range []string{"files/local.yaml", "files/app.conf"} {
		if !slices.Contains(names, kept) {
			t.Errorf("%s was not loaded; files = %v", kept, names)
		}
	}
	if slices.Contains(fileNames(ch.Templates), "templates/.hidden.yaml") {
		t.Errorf("templates = %v, want no dotfile", fileNames(ch.Templates))
	}
	mustRender(t, ch, Options{ReleaseName: "r"})

	delete(fsys, "app/.helmignore")
	if _, err := LoadDir(fsys, "app", Limits{}); err == nil || !strings.Contains(err.Error(), "app/secrets/pipe: cannot load an irregular file") {
		t.Errorf("without .helmignore: err = %v, want the FIFO refused by name", err)
	}
}

// TestLoadDirSymlinks follows symlinks inside the repository, as Helm does
// (the repository's fs.FS refuses the ones leaving it).
func TestLoadDirSymlinks(t *testing.T) {
	files := withFiles(appChart(), map[string]string{"charts/lib/Chart.yaml": "", "charts/lib/templates/_labels.tpl": ""})
	fsys := repo("apps/web", files)
	// A shared library chart and a shared template, elsewhere in the repository.
	lib := repo("shared/lib", map[string]string{
		"Chart.yaml":            appChart()["charts/lib/Chart.yaml"],
		"templates/_labels.tpl": appChart()["charts/lib/templates/_labels.tpl"],
	})
	maps.Copy(fsys, lib)
	fsys["shared/extra.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n")}
	fsys["apps/web/charts/lib"] = link("../../../shared/lib")
	fsys["apps/web/templates/extra.yaml"] = link("../../../shared/extra.yaml")

	ch, err := LoadDir(fsys, "apps/web", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res := mustRender(t, ch, Options{ReleaseName: "r"})
	if !slices.Contains(kinds(res), "ConfigMap shared") {
		t.Errorf("objects = %v, want the linked template's ConfigMap", kinds(res))
	}
	if labels := find(t, res, "Deployment", "r-app").GetLabels(); labels["app.kubernetes.io/instance"] != "r" {
		t.Errorf("labels = %v, want those of the linked library", labels)
	}

	// A link the fs.FS refuses fails the load, naming it.
	fsys["apps/web/templates/passwd.yaml"] = link("/etc/passwd")
	if _, err := LoadDir(fsys, "apps/web", Limits{}); err == nil || !strings.Contains(err.Error(), "apps/web/templates/passwd.yaml") {
		t.Errorf("a link out: err = %v, want it named", err)
	}

	// A link cycle ends at MaxEntries.
	delete(fsys, "apps/web/templates/passwd.yaml")
	fsys["apps/web/files/loop"] = link(".")
	if _, err := LoadDir(fsys, "apps/web", Limits{}); !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("a link cycle: err = %v, want ErrLimitExceeded", err)
	}
}

func TestLoadDirSubchartArchive(t *testing.T) {
	files := withFiles(appChart(), map[string]string{"charts/sub/Chart.yaml": "", "charts/sub/values.yaml": "", "charts/sub/templates/configmap.yaml": ""})
	sub := map[string]string{}
	for name, data := range appChart() {
		if rest, ok := strings.CutPrefix(name, "charts/sub/"); ok {
			sub[rest] = data
		}
	}
	fsys := repo("app", files)
	fsys["app/charts/sub-0.1.0.tgz"] = &fstest.MapFile{Data: packageChart(t, "sub", sub)}
	ch, err := LoadDir(fsys, "app", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res := mustRender(t, ch, Options{ReleaseName: "r"}); !slices.Contains(kinds(res), "ConfigMap r-sub") {
		t.Errorf("objects = %v, want the archived subchart's ConfigMap", kinds(res))
	}

	// Its entries count against the chart's limits; its refusals name it.
	fsys["app/charts/sub-0.1.0.tgz"] = &fstest.MapFile{Data: tgz(t, file("sub/Chart.yaml", sub["Chart.yaml"]), file("sub/../x", "x"))}
	_, err = LoadDir(fsys, "app", Limits{})
	if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), "subchart charts/sub-0.1.0.tgz") || !strings.Contains(err.Error(), `"sub/../x"`) {
		t.Errorf("an unsafe subchart archive: err = %v", err)
	}
}

func TestLoadDirLimits(t *testing.T) {
	fsys := repo("app", appChart())
	for _, tc := range []struct {
		lim  Limits
		want string
	}{
		{Limits{MaxEntries: 10}, "more than 10 entries"},
		{Limits{MaxEntryBytes: 100}, "over 100 (Limits.MaxEntryBytes)"},
		{Limits{MaxExpandedBytes: 1000}, "more than 1000 bytes (Limits.MaxExpandedBytes)"},
	} {
		_, err := LoadDir(fsys, "app", tc.lim)
		if !errors.Is(err, ErrLimitExceeded) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "app/") {
			t.Errorf("%+v: err = %v, want a limit error naming the file and containing %q", tc.lim, err, tc.want)
		}
	}
}

func TestLoadDirRefuses(t *testing.T) {
	fsys := repo("app", appChart())
	for dir, want := range map[string]string{
		"../app":                     "not a path inside the repository",
		"/app":                       "not a path inside the repository",
		"missing":                    "missing",
		"app/templates/service.yaml": "not a directory",
	} {
		if _, err := LoadDir(fsys, dir, Limits{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadDir(%q): err = %v, want it to contain %q", dir, err, want)
		}
	}
	v3 := repo("app", map[string]string{"Chart.yaml": "apiVersion: v3\nname: app\nversion: 1.0.0\n"})
	if _, err := LoadDir(v3, "app", Limits{}); err == nil || !strings.Contains(err.Error(), `apiVersion "v3"`) {
		t.Errorf("a v3 chart: err = %v", err)
	}
	if _, err := LoadDir(repo("app", map[string]string{"values.yaml": "a: 1"}), "app", Limits{}); err == nil || !strings.Contains(err.Error(), "Chart.yaml") {
		t.Errorf("no Chart.yaml: err = %v", err)
	}
}
