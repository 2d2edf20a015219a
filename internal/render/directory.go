package render

import (
	"context"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderDirectory renders a plain-manifest source: the .yaml, .yml and .json files of dir
// (recursively with opts.Recurse), filtered by opts' globs, in lexical path order.
func renderDirectory(ctx context.Context, fsys fs.FS, dir string, opts *DirectoryOptions, b *budget) ([]*unstructured.Unstructured, []Origin, error) {
	if opts == nil {
		opts = &DirectoryOptions{}
	}
	filter, err := newFileFilter(dir, opts)
	if err != nil {
		return nil, nil, &Error{File: dir, Err: err}
	}
	files, err := listManifestFiles(ctx, fsys, dir, opts.Recurse, filter)
	if err != nil {
		return nil, nil, err
	}
	var objs []*unstructured.Unstructured
	var origins []Origin
	for _, file := range files {
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		data, err := b.readFile(fsys, file)
		if err != nil {
			return nil, nil, &Error{File: file, Err: err}
		}
		manifests, err := decodeManifests(file, data)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range manifests {
			if err := b.addObject(m.size); err != nil {
				return nil, nil, &Error{File: file, Err: err}
			}
			objs = append(objs, m.obj)
			origins = append(origins, Origin{File: file, Line: m.line})
		}
	}
	return objs, origins, nil
}

// IsManifestFile reports whether a file name is one Argo CD reads in a Directory source.
func IsManifestFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json")
}

// fileFilter applies a Directory source's include and exclude globs to paths relative to the
// source directory.
type fileFilter struct {
	dir              string
	include, exclude *regexp.Regexp
}

func newFileFilter(dir string, opts *DirectoryOptions) (*fileFilter, error) {
	f := &fileFilter{dir: dir}
	var err error
	if opts.Include != "" {
		if f.include, err = compileGlob(opts.Include); err != nil {
			return nil, err
		}
	}
	if opts.Exclude != "" {
		if f.exclude, err = compileGlob(opts.Exclude); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *fileFilter) keep(file string) bool {
	rel := file
	if f.dir != "." {
		rel = strings.TrimPrefix(file, f.dir+"/")
	}
	if f.exclude != nil && f.exclude.MatchString(rel) {
		return false
	}
	return f.include == nil || f.include.MatchString(rel)
}

// listManifestFiles returns the manifest files of dir that pass filter, sorted. Hidden files and
// directories (names starting with '.') are skipped, as Argo CD does. Symlinks are not followed
// into directories; a symlinked file is read through fsys, which decides whether it may be.
func listManifestFiles(ctx context.Context, fsys fs.FS, dir string, recurse bool, filter *fileFilter) ([]string, error) {
	var files []string
	consider := func(file string, d fs.DirEntry) {
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") && IsManifestFile(d.Name()) && filter.keep(file) {
			files = append(files, file)
		}
	}
	if !recurse {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return nil, &Error{File: dir, Err: err}
		}
		for _, d := range entries {
			consider(path.Join(dir, d.Name()), d)
		}
		return files, nil
	}
	err := fs.WalkDir(fsys, dir, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return &Error{File: file, Err: err}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if d.IsDir() {
			if file != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		consider(file, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir visits "a/x.yaml" before "a.yaml"; sort by the whole path so the order is the
	// lexical path order whether or not the source recurses.
	sort.Strings(files)
	return files, nil
}
