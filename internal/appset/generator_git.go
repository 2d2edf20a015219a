package appset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/redact"
)

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

// Repo reads repositories for the git generator. Generate reports its errors as *InputError. Dirs lists every directory of the repository at
// revision as repository-relative, slash-separated paths; Files returns the files matching glob
// by repository-relative path.
type Repo interface {
	Dirs(ctx context.Context, repoURL, revision string) ([]string, error)
	Files(ctx context.Context, repoURL, revision, glob string) (map[string][]byte, error)
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
		return nil, fmt.Errorf("listing the directories of %s at %q: %w", redact.URL(spec.RepoURL), spec.Revision, &InputError{Err: err})
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
				return nil, fmt.Errorf("reading files %q of %s at %q: %w", f.Path, redact.URL(spec.RepoURL), spec.Revision, &InputError{Err: err})
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

// GitRepoURLs returns the repoURL of every git generator in gens, at any depth (inside matrix and
// merge generators), as written and each once, in order. A repoURL templated with a matrix's
// earlier parameters is returned unrendered.
func GitRepoURLs(gens []Generator) []string {
	var out []string
	var walk func([]Generator)
	walk = func(gens []Generator) {
		for _, g := range gens {
			switch {
			case g.Git != nil:
				if !slices.Contains(out, g.Git.RepoURL) {
					out = append(out, g.Git.RepoURL)
				}
			case g.Matrix != nil:
				walk(g.Matrix.Generators)
			case g.Merge != nil:
				walk(g.Merge.Generators)
			}
		}
	}
	walk(gens)
	return out
}
