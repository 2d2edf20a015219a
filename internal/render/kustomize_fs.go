package render

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomize sees one virtual, absolute file tree:
//
//	/                      (virtual root)
//	/repo/...              the repository revision, read-only, straight from the fs.FS
//	/kustomize-options/... in-memory overlay holding the kustomization generated from
//	                       KustomizeOptions; the only writable part
//
// Files generated before kustomize runs (the output of helmCharts, see kustomize_helm.go) are
// shown under /repo, over the repository's files, read-only.
//
// The overlay is a sibling of the repository rather than a directory inside it because kustomize
// refuses a base that is an ancestor of the kustomization referring to it (a "cycle"), which a
// source at the repository root would be.
const (
	repoMount  = "/repo"
	optionsDir = "/kustomize-options"
)

// errReadOnly is returned by write operations outside the overlay.
var errReadOnly = errors.New("the repository is read-only")

// kustomizeFS implements kustomize's filesys.FileSystem on top of a repository fs.FS, without
// copying it. Reads count against the render's budget and stop once ctx ends (so a cancelled
// kustomize run ends at its next file access). The first failure that kustomize might otherwise
// swallow or reword — an error from the repository other than "not found", or a limit — is kept
// so the render reports it, naming the file.
type kustomizeFS struct {
	ctx    context.Context
	repo   fs.FS
	budget *budget

	// generated are files shown over the repository's (fs.FS path → content), set before
	// kustomize runs and read-only afterwards; repo shows them too. They count against the
	// budget when generated, not when read.
	generated map[string][]byte

	mu      sync.Mutex
	overlay map[string][]byte // absolute virtual path → content
	failure error             // first *Error worth reporting instead of kustomize's
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

func newKustomizeFS(ctx context.Context, repo fs.FS, b *budget) *kustomizeFS {
	return &kustomizeFS{ctx: ctx, repo: repo, budget: b, overlay: map[string][]byte{}}
}

// setGenerated shows files over the repository, by fs.FS path. It must be called before
// kustomize runs.
func (k *kustomizeFS) setGenerated(files map[string][]byte) {
	if len(files) == 0 {
		return
	}
	k.generated = files
	k.repo = newGeneratedFS(k.repo, files)
}

// repoPath is the absolute virtual path of a repository path.
func repoPath(name string) string {
	if name == "." {
		return repoMount
	}
	return repoMount + "/" + name
}

// layer says which part of the virtual tree a path is in.
type layer int

const (
	layerNone layer = iota
	layerRoot
	layerRepo
	layerOverlay
)

// locate cleans a path (relative paths are relative to the virtual root) and says where it is.
// For layerRepo, name is the fs.FS path; otherwise it is the cleaned absolute path.
func locate(p string) (layer, string, string) {
	abs := path.Clean("/" + filepath.ToSlash(p))
	switch {
	case abs == "/":
		return layerRoot, abs, abs
	case abs == repoMount:
		return layerRepo, ".", abs
	case strings.HasPrefix(abs, repoMount+"/"):
		return layerRepo, abs[len(repoMount)+1:], abs
	case abs == optionsDir || strings.HasPrefix(abs, optionsDir+"/"):
		return layerOverlay, abs, abs
	}
	return layerNone, abs, abs
}

// note records err from the repository for name if it is worth reporting, and returns err.
func (k *kustomizeFS) note(name string, err error) error {
	if err == nil || absent(err) || k.ctx.Err() != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failure == nil {
		k.failure = &Error{File: name, Err: err}
	}
	return err
}

// err returns the failure recorded during the run, if any.
func (k *kustomizeFS) err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.failure
}

func notExist(op, p string) error { return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist} }

func (k *kustomizeFS) stat(p string) (fs.FileInfo, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	l, name, abs := locate(p)
	switch l {
	case layerRoot:
		return virtualInfo{name: "/", dir: true}, nil
	case layerRepo:
		info, err := fs.Stat(k.repo, name)
		return info, k.note(name, err)
	case layerOverlay:
		k.mu.Lock()
		defer k.mu.Unlock()
		if data, ok := k.overlay[abs]; ok {
			return virtualInfo{name: path.Base(abs), size: int64(len(data))}, nil
		}
		for f := range k.overlay {
			if strings.HasPrefix(f, abs+"/") {
				return virtualInfo{name: path.Base(abs), dir: true}, nil
			}
		}
	}
	return nil, notExist("stat", p)
}

// Exists implements filesys.FileSystem.
func (k *kustomizeFS) Exists(p string) bool {
	_, err := k.stat(p)
	return err == nil
}

// IsDir implements filesys.FileSystem.
func (k *kustomizeFS) IsDir(p string) bool {
	info, err := k.stat(p)
	return err == nil && info.IsDir()
}

// CleanedAbs implements filesys.FileSystem: a directory is returned whole, a file as its
// directory and name. Symlinks are resolved by the repository's fs.FS, not here.
func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	info, err := k.stat(p)
	if err != nil {
		return "", "", err
	}
	_, _, abs := locate(p)
	if info.IsDir() {
		return filesys.ConfirmedDir(abs), "", nil
	}
	return filesys.ConfirmedDir(path.Dir(abs)), path.Base(abs), nil
}

// ReadFile implements filesys.FileSystem.
func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	l, name, abs := locate(p)
	switch l {
	case layerRepo:
		if data, ok := k.generated[name]; ok {
			return bytes.Clone(data), nil
		}
		data, err := k.budget.readFile(k.repo, name)
		return data, k.note(name, err)
	case layerOverlay:
		k.mu.Lock()
		defer k.mu.Unlock()
		if data, ok := k.overlay[abs]; ok {
			return bytes.Clone(data), nil
		}
	}
	return nil, notExist("read", p)
}

// Open implements filesys.FileSystem. The file is read whole (through ReadFile, so it counts
// against the budget) and served from memory.
func (k *kustomizeFS) Open(p string) (filesys.File, error) {
	info, err := k.stat(p)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errors.New("is a directory")}
	}
	data, err := k.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return &memFile{info: info, Reader: bytes.NewReader(data)}, nil
}

// ReadDir implements filesys.FileSystem.
func (k *kustomizeFS) ReadDir(p string) ([]string, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	l, name, abs := locate(p)
	switch l {
	case layerRoot:
		return []string{strings.TrimPrefix(optionsDir, "/"), strings.TrimPrefix(repoMount, "/")}, nil
	case layerRepo:
		entries, err := fs.ReadDir(k.repo, name)
		if err != nil {
			return nil, k.note(name, err)
		}
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		return names, nil
	case layerOverlay:
		if names := k.overlayChildren(abs); len(names) > 0 {
			return names, nil
		}
	}
	return nil, notExist("readdir", p)
}

// overlayChildren lists the names directly under dir in the overlay, sorted.
func (k *kustomizeFS) overlayChildren(dir string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[string]bool{}
	for f := range k.overlay {
		if rest, ok := strings.CutPrefix(f, dir+"/"); ok {
			child, _, _ := strings.Cut(rest, "/")
			seen[child] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Glob implements filesys.FileSystem.
func (k *kustomizeFS) Glob(pattern string) ([]string, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	l, name, abs := locate(pattern)
	switch l {
	case layerRepo:
		matches, err := fs.Glob(k.repo, name)
		if err != nil {
			return nil, k.note(name, err)
		}
		for i, m := range matches {
			matches[i] = repoPath(m)
		}
		return matches, nil
	case layerOverlay:
		k.mu.Lock()
		defer k.mu.Unlock()
		var matches []string
		for f := range k.overlay {
			if ok, _ := path.Match(abs, f); ok {
				matches = append(matches, f)
			}
		}
		sort.Strings(matches)
		return matches, nil
	}
	return nil, nil
}

// Walk implements filesys.FileSystem for the repository and the overlay.
func (k *kustomizeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	l, name, abs := locate(p)
	switch l {
	case layerRepo:
		return fs.WalkDir(k.repo, name, func(name string, d fs.DirEntry, err error) error {
			if err == nil {
				err = k.ctx.Err()
			}
			if err != nil {
				return walkFn(repoPath(name), nil, k.note(name, err))
			}
			info, err := d.Info()
			return walkFn(repoPath(name), info, k.note(name, err))
		})
	case layerOverlay:
		return k.walkOverlay(abs, walkFn)
	}
	return walkFn(p, nil, notExist("walk", p))
}

func (k *kustomizeFS) walkOverlay(abs string, walkFn filepath.WalkFunc) error {
	info, err := k.stat(abs)
	if err != nil {
		return walkFn(abs, nil, err)
	}
	if err := walkFn(abs, info, nil); err != nil || !info.IsDir() {
		if errors.Is(err, filepath.SkipDir) {
			return nil
		}
		return err
	}
	for _, child := range k.overlayChildren(abs) {
		if err := k.walkOverlay(abs+"/"+child, walkFn); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile implements filesys.FileSystem: only the overlay is writable.
func (k *kustomizeFS) WriteFile(p string, data []byte) error {
	l, _, abs := locate(p)
	if l != layerOverlay || abs == optionsDir {
		return &fs.PathError{Op: "write", Path: p, Err: errReadOnly}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.overlay[abs] = bytes.Clone(data)
	return nil
}

// Create implements filesys.FileSystem: only the overlay is writable; the file's content is
// stored when it is closed.
func (k *kustomizeFS) Create(p string) (filesys.File, error) {
	if err := k.WriteFile(p, nil); err != nil {
		return nil, err
	}
	_, _, abs := locate(p)
	return &memFile{info: virtualInfo{name: path.Base(abs)}, Reader: bytes.NewReader(nil),
		commit: func(data []byte) error { return k.WriteFile(abs, data) }}, nil
}

// Mkdir implements filesys.FileSystem: overlay directories exist implicitly.
func (k *kustomizeFS) Mkdir(p string) error { return k.mkdir(p) }

// MkdirAll implements filesys.FileSystem: overlay directories exist implicitly.
func (k *kustomizeFS) MkdirAll(p string) error { return k.mkdir(p) }

func (k *kustomizeFS) mkdir(p string) error {
	if l, _, _ := locate(p); l != layerOverlay {
		return &fs.PathError{Op: "mkdir", Path: p, Err: errReadOnly}
	}
	return nil
}

// RemoveAll implements filesys.FileSystem: only the overlay is writable.
func (k *kustomizeFS) RemoveAll(p string) error {
	l, _, abs := locate(p)
	if l != layerOverlay {
		return &fs.PathError{Op: "remove", Path: p, Err: errReadOnly}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for f := range k.overlay {
		if f == abs || strings.HasPrefix(f, abs+"/") {
			delete(k.overlay, f)
		}
	}
	return nil
}

// memFile is a filesys.File served from memory. Writes are buffered and, for a file created in
// the overlay, stored on Close; otherwise they fail.
type memFile struct {
	*bytes.Reader
	info    fs.FileInfo
	written bytes.Buffer
	commit  func([]byte) error
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.commit == nil {
		return 0, errReadOnly
	}
	return f.written.Write(p)
}

func (f *memFile) Close() error {
	if f.commit == nil {
		return nil
	}
	return f.commit(f.written.Bytes())
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }

// virtualInfo describes the virtual root, overlay directories and overlay files.
type virtualInfo struct {
	name string
	size int64
	dir  bool
}

func (i virtualInfo) Name() string       { return i.name }
func (i virtualInfo) Size() int64        { return i.size }
func (i virtualInfo) ModTime() time.Time { return time.Time{} }
func (i virtualInfo) IsDir() bool        { return i.dir }
func (i virtualInfo) Sys() any           { return nil }

func (i virtualInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

// generatedFS shows generated files over a repository's fs.FS: a generated file replaces the
// repository's file of the same path, and directories that only generated files are in exist.
type generatedFS struct {
	repo  fs.FS
	files map[string][]byte
	dirs  map[string]bool // directories the repository does not have
}

func newGeneratedFS(repo fs.FS, files map[string][]byte) *generatedFS {
	g := &generatedFS{repo: repo, files: files, dirs: map[string]bool{}}
	for name := range files {
		for dir := path.Dir(name); dir != "." && !g.dirs[dir]; dir = path.Dir(dir) {
			if _, err := fs.Stat(repo, dir); err == nil {
				break
			}
			g.dirs[dir] = true
		}
	}
	return g
}

func (g *generatedFS) Open(name string) (fs.File, error) {
	if data, ok := g.files[name]; ok {
		return &memFile{info: virtualInfo{name: path.Base(name), size: int64(len(data))}, Reader: bytes.NewReader(data)}, nil
	}
	if g.dirs[name] {
		entries, err := g.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &memDir{info: virtualInfo{name: path.Base(name), dir: true}, entries: entries}, nil
	}
	return g.repo.Open(name)
}

func (g *generatedFS) Stat(name string) (fs.FileInfo, error) {
	if data, ok := g.files[name]; ok {
		return virtualInfo{name: path.Base(name), size: int64(len(data))}, nil
	}
	if g.dirs[name] {
		return virtualInfo{name: path.Base(name), dir: true}, nil
	}
	return fs.Stat(g.repo, name)
}

// ReadDir lists the repository's directory with the generated files and directories in it.
func (g *generatedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	var entries []fs.DirEntry
	if !g.dirs[name] {
		var err error
		if entries, err = fs.ReadDir(g.repo, name); err != nil {
			return nil, err
		}
	}
	byName := map[string]fs.DirEntry{}
	for _, e := range entries {
		byName[e.Name()] = e
	}
	add := func(child string) {
		if path.Dir(child) == name {
			if info, err := g.Stat(child); err == nil {
				byName[path.Base(child)] = fs.FileInfoToDirEntry(info)
			}
		}
	}
	for f := range g.files {
		add(f)
	}
	for d := range g.dirs {
		add(d)
	}
	entries = entries[:0]
	for _, e := range byName {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}

// memDir is a generated directory, opened.
type memDir struct {
	info    fs.FileInfo
	entries []fs.DirEntry
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Close() error               { return nil }

func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		entries := d.entries
		d.entries = nil
		return entries, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	entries := d.entries[:n]
	d.entries = d.entries[n:]
	return entries, nil
}
