package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
	"weak"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrSnapshotTooLarge is wrapped by the error for a revision that exceeds
// Options.MaxFiles or Options.MaxSnapshotBytes.
var ErrSnapshotTooLarge = errors.New("snapshot too large")

// maxLinkTarget bounds a symlink target, as PATH_MAX does on Linux.
const maxLinkTarget = 4096

// entryOverhead is what one file, directory or symlink of a snapshot costs
// besides its contents: its node, its slot in the directory, its name and
// its blob or tree header. It is counted in a snapshot's size so that a
// revision of many empty files is not taken for free.
const entryOverhead = 128

// size is what the snapshot cache counts for f: the bytes of its files
// (wherever a file occurs, so a file shared by two snapshots, or occurring
// twice in one, is counted each time: the count errs high) and an
// entryOverhead per entry. Both totals are known once the tree is built.
func (f *snapshotFS) size() int64 {
	t := f.root.tree
	return t.bytes + int64(t.files+1)*entryOverhead
}

// Snapshot returns the files of commit sha as a read-only fs.FS rooted at the
// repository root. It is built once per (repository, commit), held in memory,
// and shared by every caller: the same value is returned until the snapshot
// leaves the LRU cache (Options.SnapshotCacheMaxBytes, SnapshotCacheSize). A
// snapshot larger than the cache's whole byte budget is returned but not
// kept. Nothing outside the repository is ever read; see EscapeError for
// symlinks that point outside.
//
// A revision over Options.MaxSnapshotBytes or MaxFiles fails with
// ErrSnapshotTooLarge while it is read: each blob's size is checked from
// its object header before its contents are read, so a refused revision
// never holds more than MaxSnapshotBytes of its files.
//
// sha must be a full commit SHA, as returned by Resolve. A commit the cache
// lacks is fetched as Resolve would.
func (c *Cache) Snapshot(ctx context.Context, repoURL, sha string) (fs.FS, error) {
	r, err := c.repo(ctx, repoURL)
	if err != nil {
		return nil, err
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	if len(sha) != hexSHALen || !isHex(sha) {
		return nil, fmt.Errorf("snapshot of %s: %q is not a full commit SHA", r.key, sha)
	}
	key := r.key + "@" + sha
	if fsys, ok := c.snapshots.get(key); ok {
		return fsys, nil
	}
	// One build per snapshot, detached from ctx so that the callers who join
	// it do not fail because the first one gave up.
	ch := c.building.DoChan(key, func() (any, error) {
		return c.buildSnapshot(context.WithoutCancel(ctx), r, sha)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*snapshotFS), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) buildSnapshot(ctx context.Context, r *repo, sha string) (*snapshotFS, error) {
	key := r.key + "@" + sha
	if fsys, ok := c.snapshots.get(key); ok {
		return fsys, nil
	}
	commit, err := r.ensureCommit(ctx, plumbing.NewHash(sha), time.Time{})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s at %s: %w", r.key, sha, err)
	}
	commitKey := r.key + "@" + commit.String()
	if fsys, ok := c.snapshots.get(commitKey); ok {
		c.snapshots.add(key, fsys)
		return fsys, nil
	}
	var fsys *snapshotFS
	err = r.withStore(func() error {
		b := &treeBuilder{
			ctx:      ctx,
			store:    r.git.Storer,
			shared:   &r.objects,
			maxBytes: c.opts.MaxSnapshotBytes,
			maxFiles: c.opts.MaxFiles,
		}
		var err error
		fsys, err = b.build(commit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s at %s: %w", r.key, sha, err)
	}
	r.stats.snapshots.Add(1)
	c.snapshots.add(commitKey, fsys)
	if key != commitKey {
		c.snapshots.add(key, fsys)
	}
	return fsys, nil
}

// sharedObjects holds weak pointers to the trees and blobs of a repository's
// live snapshots. A new revision usually differs from the last one in a few
// files: its snapshot reuses every unchanged directory and file, in time and
// in memory. Entries die with the last snapshot using them. Guarded by
// storeMu.
type sharedObjects struct {
	trees map[plumbing.Hash]weak.Pointer[tree]
	blobs map[plumbing.Hash]weak.Pointer[blob]
}

// prune forgets the objects no snapshot uses any more.
func (o *sharedObjects) prune() {
	if o.trees == nil {
		o.trees = map[plumbing.Hash]weak.Pointer[tree]{}
		o.blobs = map[plumbing.Hash]weak.Pointer[blob]{}
	}
	maps.DeleteFunc(o.trees, func(_ plumbing.Hash, p weak.Pointer[tree]) bool { return p.Value() == nil })
	maps.DeleteFunc(o.blobs, func(_ plumbing.Hash, p weak.Pointer[blob]) bool { return p.Value() == nil })
}

// treeBuilder reads a commit's tree into memory. A tree or blob that occurs
// more than once (a copied directory, a duplicate file, an unchanged file of
// an earlier snapshot) is read once and shared, but counts toward the limits
// at every place it occurs.
type treeBuilder struct {
	ctx      context.Context
	store    storer.EncodedObjectStorer
	shared   *sharedObjects
	maxBytes int64
	maxFiles int

	files int
	bytes int64
}

var emptyTree = &tree{}

func (b *treeBuilder) build(commitHash plumbing.Hash) (*snapshotFS, error) {
	b.shared.prune()
	commit, err := object.GetCommit(b.store, commitHash)
	if err != nil {
		return nil, err
	}
	t, err := b.readTree(commit.TreeHash, "")
	if err != nil {
		return nil, err
	}
	return &snapshotFS{
		root:    &node{name: ".", mode: fs.ModeDir | 0o755, tree: t},
		modTime: commit.Committer.When,
	}, nil
}

// count adds files and bytes to the totals and enforces the limits.
func (b *treeBuilder) count(files int, bytes int64) error {
	b.files += files
	b.bytes += bytes
	if b.files > b.maxFiles {
		return fmt.Errorf("%w: more than %d files (MaxFiles)", ErrSnapshotTooLarge, b.maxFiles)
	}
	if b.bytes > b.maxBytes {
		return fmt.Errorf("%w: more than %d bytes of files (MaxSnapshotBytes)", ErrSnapshotTooLarge, b.maxBytes)
	}
	return nil
}

func (b *treeBuilder) readTree(h plumbing.Hash, dir string) (*tree, error) {
	if t := b.shared.trees[h].Value(); t != nil {
		return t, b.count(t.files, t.bytes)
	}
	if err := b.ctx.Err(); err != nil {
		return nil, err
	}
	gt, err := object.GetTree(b.store, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", displayPath(dir), err)
	}
	filesBefore, bytesBefore := b.files, b.bytes
	t := &tree{entries: make([]*node, 0, len(gt.Entries))}
	for _, e := range gt.Entries {
		p := joinPath(dir, e.Name)
		if !validEntryName(e.Name) {
			return nil, fmt.Errorf("tree %s has an invalid entry name %q", displayPath(dir), e.Name)
		}
		if err := b.count(1, 0); err != nil {
			return nil, err
		}
		n := &node{name: e.Name}
		switch e.Mode {
		case filemode.Dir:
			n.mode = fs.ModeDir | 0o755
			n.tree, err = b.readTree(e.Hash, p)
		case filemode.Regular, filemode.Deprecated:
			n.mode = 0o644
			n.blob, err = b.readBlob(e.Hash, p, b.maxBytes)
		case filemode.Executable:
			n.mode = 0o755
			n.blob, err = b.readBlob(e.Hash, p, b.maxBytes)
		case filemode.Symlink:
			n.mode = fs.ModeSymlink | 0o777
			n.blob, err = b.readBlob(e.Hash, p, maxLinkTarget)
		case filemode.Submodule:
			// Submodules are not fetched: an empty directory, as in a
			// checkout without "git submodule update".
			n.mode, n.tree = fs.ModeDir|0o755, emptyTree
		default:
			return nil, fmt.Errorf("%s has unsupported mode %s", p, e.Mode)
		}
		if err != nil {
			return nil, err
		}
		t.entries = append(t.entries, n)
	}
	slices.SortFunc(t.entries, func(a, b *node) int { return cmp.Compare(a.name, b.name) })
	for i := 1; i < len(t.entries); i++ {
		if t.entries[i].name == t.entries[i-1].name {
			return nil, fmt.Errorf("tree %s has two entries named %q", displayPath(dir), t.entries[i].name)
		}
	}
	t.files, t.bytes = b.files-filesBefore, b.bytes-bytesBefore
	b.shared.trees[h] = weak.Make(t)
	return t, nil
}

// readBlob reads a blob of at most limit bytes (and within MaxSnapshotBytes).
func (b *treeBuilder) readBlob(h plumbing.Hash, p string, limit int64) (*blob, error) {
	shared := b.shared.blobs[h].Value()
	var obj plumbing.EncodedObject
	var size int64
	if shared != nil {
		size = int64(len(shared.data))
	} else {
		var err error
		obj, err = b.store.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		size = obj.Size()
	}
	if size > limit {
		if limit == maxLinkTarget {
			return nil, fmt.Errorf("symlink %s: target longer than %d bytes", p, maxLinkTarget)
		}
		return nil, fmt.Errorf("%w: %s alone has %d bytes (MaxSnapshotBytes %d)", ErrSnapshotTooLarge, p, size, b.maxBytes)
	}
	if err := b.count(0, size); err != nil {
		return nil, err
	}
	if shared != nil {
		return shared, nil
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer rd.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(rd, data); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	bl := &blob{data: data}
	b.shared.blobs[h] = weak.Make(bl)
	return bl, nil
}

// validEntryName rejects tree entry names that git itself refuses (fsck):
// they could not be checked out, and "." or ".." would confuse paths.
func validEntryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func joinPath(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}
