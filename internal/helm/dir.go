package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/ignore"
)

// LoadDir loads the chart in directory dir of fsys, a repository revision
// rooted at the repository's root, as Helm loads a chart directory: the
// chart's .helmignore (and Helm's default rule, dotfiles in templates/) is
// honoured, symlinks are followed (fsys decides where they may lead), and
// vendored subcharts under charts/ are loaded, directories and .tgz
// archives alike (the archives through LoadArchive's reader). Everything
// read counts against lim. Errors name the file by its repository path.
func LoadDir(fsys fs.FS, dir string, lim Limits) (*chart.Chart, error) {
	root, err := cleanDir(dir)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("chart directory %s: %w", root, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("chart directory %s is not a directory", root)
	}
	w := &walker{fsys: fsys, root: root, b: newBudget(lim)}
	if w.rules, err = w.helmignore(); err != nil {
		return nil, err
	}
	if err := w.walk(""); err != nil {
		return nil, err
	}
	ch, err := loadFiles(w.files, w.b)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", root, err)
	}
	if err := checkTopChart(ch); err != nil {
		return nil, fmt.Errorf("chart %s: %w", root, err)
	}
	return ch, nil
}

// cleanDir turns dir into an fs.FS path, refusing ".." elements and
// absolute paths.
func cleanDir(dir string) (string, error) {
	if dir == "" {
		return ".", nil
	}
	if strings.HasPrefix(dir, "/") || slices.Contains(strings.Split(dir, "/"), "..") {
		return "", fmt.Errorf("chart directory %q is not a path inside the repository", dir)
	}
	clean := path.Clean(dir)
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("chart directory %q is not a valid path", dir)
	}
	return clean, nil
}

// walker collects the files of a chart directory.
type walker struct {
	fsys  fs.FS
	root  string
	b     *budget
	rules *ignore.Rules
	files []*archive.BufferedFile
}

// helmignore reads the chart's .helmignore, if it has one.
func (w *walker) helmignore() (*ignore.Rules, error) {
	name := path.Join(w.root, ignore.HelmIgnore)
	info, err := fs.Stat(w.fsys, name)
	var rules *ignore.Rules
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rules = ignore.Empty()
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	default:
		data, err := w.read(name, info.Size())
		if err != nil {
			return nil, err
		}
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	rules.AddDefaults()
	return rules, nil
}

// walk adds the files under rel (a path relative to the chart's
// directory, "" for the directory itself), in lexical order, depth first,
// as Helm's directory loader walks.
func (w *walker) walk(rel string) error {
	dir := path.Join(w.root, rel)
	entries, err := fs.ReadDir(w.fsys, dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, e := range entries {
		n := path.Join(rel, e.Name())
		name := path.Join(w.root, n)
		var info fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			info, err = fs.Stat(w.fsys, name) // follow it; fsys refuses links leaving the repository
		} else {
			info, err = e.Info()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if w.rules.Ignore(n, info) {
			continue
		}
		if err := w.b.entry(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if info.IsDir() {
			if err := w.walk(n); err != nil {
				return err
			}
			continue
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: cannot load an irregular file (mode %s)", name, info.Mode())
		}
		data, err := w.read(name, info.Size())
		if err != nil {
			return err
		}
		w.files = append(w.files, &archive.BufferedFile{Name: n, ModTime: info.ModTime(), Data: bytes.TrimPrefix(data, utf8BOM)})
	}
	return nil
}

// read reads a file of the size its FileInfo gave, within the budget.
func (w *walker) read(name string, size int64) ([]byte, error) {
	if err := w.b.reserve(size); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f, err := w.fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > size {
		return nil, fmt.Errorf("%s: %w: the file grew while it was read", name, ErrLimitExceeded)
	}
	w.b.expanded -= size - int64(len(data))
	return data, nil
}
