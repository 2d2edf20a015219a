package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// EscapeError reports a symlink whose target lies outside the repository: an
// absolute target, or a relative one whose ".." climbs above the repository
// root. Such links are never followed; opening or stat-ing a path through
// one, or reading a directory that contains one, fails with an *EscapeError
// (inside an *fs.PathError; match it with errors.As).
type EscapeError struct {
	// Path is the symlink's path from the repository root.
	Path string
	// Target is the symlink's target, as stored in Git.
	Target string
}

func (e *EscapeError) Error() string {
	return fmt.Sprintf("symlink %s points outside the repository (target %q)", e.Path, e.Target)
}

var (
	errLinkLoop = errors.New("too many levels of symbolic links")
	errNotDir   = errors.New("not a directory")
	errIsDir    = errors.New("is a directory")
)

// maxLinkHops bounds the symlinks followed to resolve one path (Linux's
// MAXSYMLINKS), so link cycles end.
const maxLinkHops = 40

// node is a file, directory or symlink of a snapshot. Nodes are immutable
// once built. Their contents (blob, tree) are shared by every place, in
// every snapshot of a repository, that holds the same Git object.
type node struct {
	name string
	mode fs.FileMode
	blob *blob // file contents, or symlink target
	tree *tree // directory entries
}

// blob is the contents of a Git blob.
type blob struct{ data []byte }

// tree is the contents of a Git tree, with its recursive totals (which count
// toward the snapshot limits wherever the tree occurs).
type tree struct {
	entries []*node // sorted by name
	files   int     // entries, recursively
	bytes   int64   // file sizes, recursively
}

func (n *node) isDir() bool  { return n.mode.IsDir() }
func (n *node) isLink() bool { return n.mode&fs.ModeSymlink != 0 }

func (n *node) data() []byte {
	if n.blob == nil {
		return nil
	}
	return n.blob.data
}

func (n *node) entries() []*node {
	if n.tree == nil {
		return nil
	}
	return n.tree.entries
}

func (n *node) child(name string) *node {
	entries := n.entries()
	i := sort.Search(len(entries), func(i int) bool { return entries[i].name >= name })
	if i < len(entries) && entries[i].name == name {
		return entries[i]
	}
	return nil
}

// snapshotFS is the files of one commit, in memory. It implements fs.FS,
// fs.StatFS, fs.ReadDirFS, fs.ReadFileFS and fs.ReadLinkFS. Symlinks inside
// the repository are followed by Open, Stat and ReadFile, and reported as
// symlinks by ReadDir and Lstat, as os.DirFS does.
type snapshotFS struct {
	root    *node
	modTime time.Time // the commit's time, for every entry
}

var (
	_ fs.StatFS     = (*snapshotFS)(nil)
	_ fs.ReadDirFS  = (*snapshotFS)(nil)
	_ fs.ReadFileFS = (*snapshotFS)(nil)
	_ fs.ReadLinkFS = (*snapshotFS)(nil)
)

// step is one path element still to resolve, with the symlink it comes from.
type step struct {
	name         string
	link, target string // the symlink whose target holds this element, if any
}

// resolve finds the node at name, following symlinks in every element, and
// in the last one too if followLast. It returns the node and its path with
// symlinks resolved ("" for the root).
//
// Resolution is done element by element, as the kernel does: ".." leaves the
// directory reached so far, not the lexical parent, and a ".." above the root
// is an escape, reported against the symlink that brought it.
func (f *snapshotFS) resolve(name string, followLast bool) (*node, string, error) {
	if !fs.ValidPath(name) {
		return nil, "", fs.ErrInvalid
	}
	// pending holds the elements still to resolve, last one first, so that
	// splicing in a symlink's target is an append.
	var pending []step
	if name != "." {
		pending = pushSteps(pending, name, "", "")
	}
	stack := []*node{f.root}
	var names []string
	hops := 0
	for len(pending) > 0 {
		s := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		switch s.name {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return nil, "", &EscapeError{Path: s.link, Target: s.target}
			}
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
			continue
		}
		dir := stack[len(stack)-1]
		if !dir.isDir() {
			return nil, "", errNotDir
		}
		n := dir.child(s.name)
		if n == nil {
			return nil, "", fs.ErrNotExist
		}
		if n.isLink() && (len(pending) > 0 || followLast) {
			if hops++; hops > maxLinkHops {
				return nil, "", errLinkLoop
			}
			linkPath := joinPath(strings.Join(names, "/"), s.name)
			target := string(n.data())
			if target == "" {
				return nil, "", fs.ErrNotExist
			}
			if strings.HasPrefix(target, "/") {
				return nil, "", &EscapeError{Path: linkPath, Target: target}
			}
			pending = pushSteps(pending, target, linkPath, target)
			continue
		}
		stack, names = append(stack, n), append(names, s.name)
	}
	return stack[len(stack)-1], strings.Join(names, "/"), nil
}

// pushSteps pushes the elements of p onto the pending stack, so that the
// first element is popped first.
func pushSteps(pending []step, p, link, target string) []step {
	parts := strings.Split(p, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		pending = append(pending, step{name: parts[i], link: link, target: target})
	}
	return pending
}

func (f *snapshotFS) info(name string, n *node) *fileInfo {
	base := path.Base(name)
	size := int64(len(n.data()))
	if n.isDir() {
		size = 0
	}
	return &fileInfo{name: base, size: size, mode: n.mode, modTime: f.modTime}
}

// Open opens name, following symlinks.
func (f *snapshotFS) Open(name string) (fs.File, error) {
	n, real, err := f.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if n.isDir() {
		return &dirFile{fsys: f, node: n, real: real, name: name, info: f.info(name, n)}, nil
	}
	return &regularFile{Reader: bytes.NewReader(n.data()), info: f.info(name, n)}, nil
}

// Stat returns the FileInfo of name, following symlinks.
func (f *snapshotFS) Stat(name string) (fs.FileInfo, error) {
	n, _, err := f.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.info(name, n), nil
}

// Lstat returns the FileInfo of name without following a symlink at its end.
func (f *snapshotFS) Lstat(name string) (fs.FileInfo, error) {
	n, _, err := f.resolve(name, false)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return f.info(name, n), nil
}

// ReadLink returns the target of the symlink name, as stored in Git.
func (f *snapshotFS) ReadLink(name string) (string, error) {
	n, _, err := f.resolve(name, false)
	if err == nil && !n.isLink() {
		err = fs.ErrInvalid
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(n.data()), nil
}

// ReadFile returns a copy of the contents of name, following symlinks.
func (f *snapshotFS) ReadFile(name string) ([]byte, error) {
	n, _, err := f.resolve(name, true)
	if err == nil && n.isDir() {
		err = errIsDir
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return bytes.Clone(n.data()), nil
}

// ReadDir lists the directory name, sorted by name. Symlinks are listed as
// symlinks, except those that point outside the repository: they are left
// out, and reported in the error (an *fs.PathError wrapping an *EscapeError
// for each), which comes with the entries that could be listed.
func (f *snapshotFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, real, err := f.resolve(name, true)
	if err == nil && !n.isDir() {
		err = errNotDir
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return f.dirEntries(n, real, name)
}

func (f *snapshotFS) dirEntries(dir *node, real, name string) ([]fs.DirEntry, error) {
	entries := make([]fs.DirEntry, 0, len(dir.entries()))
	var errs []error
	for _, n := range dir.entries() {
		if n.isLink() {
			_, _, err := f.resolve(joinPath(real, n.name), true)
			if esc := (*EscapeError)(nil); errors.As(err, &esc) {
				errs = append(errs, &fs.PathError{Op: "readdir", Path: joinPath(name, n.name), Err: esc})
				continue
			}
		}
		entries = append(entries, &dirEntry{info: fileInfo{name: n.name, size: int64(len(n.data())), mode: n.mode, modTime: f.modTime}})
	}
	return entries, errors.Join(errs...)
}

// fileInfo describes a snapshot entry.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }

// dirEntry is a directory entry; for a symlink, it describes the link.
type dirEntry struct{ info fileInfo }

func (d *dirEntry) Name() string               { return d.info.name }
func (d *dirEntry) IsDir() bool                { return d.info.IsDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.info.mode.Type() }
func (d *dirEntry) Info() (fs.FileInfo, error) { return &d.info, nil }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

// regularFile is an open file: a reader over the shared, read-only contents.
type regularFile struct {
	*bytes.Reader
	info *fileInfo
}

func (f *regularFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *regularFile) Close() error               { return nil }

// dirFile is an open directory.
type dirFile struct {
	fsys       *snapshotFS
	node       *node
	real, name string
	info       *fileInfo

	listed  bool
	entries []fs.DirEntry
	err     error // escape errors, reported once, after the entries
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}

// ReadDir implements fs.ReadDirFile with the semantics of snapshotFS.ReadDir.
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.listed {
		d.entries, d.err = d.fsys.dirEntries(d.node, d.real, d.name)
		d.listed = true
	}
	if count <= 0 {
		out, err := d.entries, d.err
		d.entries, d.err = nil, nil
		return out, err
	}
	if len(d.entries) == 0 {
		if err := d.err; err != nil {
			d.err = nil
			return nil, err
		}
		return nil, io.EOF
	}
	count = min(count, len(d.entries))
	out := d.entries[:count:count]
	d.entries = d.entries[count:]
	return out, nil
}
