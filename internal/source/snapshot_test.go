package source

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func assertFile(t *testing.T, fsys fs.FS, name, want string) {
	t.Helper()
	got, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func assertEscape(t *testing.T, err error, path, target string) {
	t.Helper()
	var esc *EscapeError
	if !errors.As(err, &esc) {
		t.Fatalf("error = %v, want an *EscapeError for %s", err, path)
	}
	if esc.Path != path || esc.Target != target {
		t.Errorf("EscapeError = {%s, %s}, want {%s, %s}", esc.Path, esc.Target, path, target)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, target) {
		t.Errorf("error %q does not name the link %s and its target %s", msg, path, target)
	}
}

// testSnapshot resolves main of a new test repository and snapshots it.
func testSnapshot(t *testing.T) (fs.FS, *testRepo, *Cache) {
	t.Helper()
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	sha, err := c.Resolve(t.Context(), remote.url(), "main", false)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := c.Snapshot(t.Context(), remote.url(), sha)
	if err != nil {
		t.Fatal(err)
	}
	return fsys, remote, c
}

func TestSnapshotFiles(t *testing.T) {
	fsys, remote, c := testSnapshot(t)
	assertFile(t, fsys, "README.md", "# demo\n")
	assertFile(t, fsys, "apps/guestbook/deployment.yaml", "kind: Deployment\nreplicas: 2\n")

	entries, err := fs.ReadDir(fsys, "apps/guestbook")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"deployment.yaml", "service.yaml"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir(apps/guestbook) = %v, want %v", names, want)
	}

	info, err := fs.Stat(fsys, "hack/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode() != 0o755 || info.Size() != int64(len("#!/bin/sh\n")) || info.Name() != "run.sh" {
		t.Errorf("Stat(hack/run.sh) = %v %d %s, want an executable of 10 bytes", info.Mode(), info.Size(), info.Name())
	}
	commit, err := c.CommitInfo(t.Context(), remote.url(), remote.sha("main"))
	if err != nil {
		t.Fatal(err)
	}
	if !info.ModTime().Equal(commit.Time) {
		t.Errorf("ModTime = %v, want the commit time %v", info.ModTime(), commit.Time)
	}

	// ReadFile returns a copy: changing it does not change the snapshot.
	b, _ := fs.ReadFile(fsys, "README.md")
	b[0] = 'X'
	assertFile(t, fsys, "README.md", "# demo\n")

	f, err := fsys.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(io.ReaderAt); !ok {
		t.Error("open file does not implement io.ReaderAt")
	}

	if _, err := fsys.Open("missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing.yaml) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.Open("../etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../etc/passwd) error = %v, want fs.ErrInvalid", err)
	}
	if _, err := fs.ReadFile(fsys, "apps"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
}

func TestSnapshotInRepoSymlinks(t *testing.T) {
	fsys, _, _ := testSnapshot(t)
	assertFile(t, fsys, "apps/link.yaml", "kind: Service\n")
	assertFile(t, fsys, "base/deployment.yaml", "kind: Deployment\nreplicas: 2\n")

	info, err := fs.Stat(fsys, "base")
	if err != nil || !info.IsDir() {
		t.Fatalf("Stat(base) = %v, %v; want a directory", info, err)
	}
	entries, err := fs.ReadDir(fsys, "base")
	if err != nil || len(entries) != 2 {
		t.Fatalf("ReadDir(base) = %v, %v; want the two files of apps/guestbook", entries, err)
	}
	linfo, err := fs.Lstat(fsys, "apps/link.yaml")
	if err != nil || linfo.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat(apps/link.yaml) = %v, %v; want a symlink", linfo, err)
	}
	target, err := fs.ReadLink(fsys, "apps/link.yaml")
	if err != nil || target != "guestbook/service.yaml" {
		t.Fatalf("ReadLink(apps/link.yaml) = %q, %v", target, err)
	}
	// Escaping links can be read as strings: that reads nothing outside.
	if target, err := fs.ReadLink(fsys, "apps/x.yaml"); err != nil || target != "../../etc/passwd" {
		t.Fatalf("ReadLink(apps/x.yaml) = %q, %v", target, err)
	}
}

func TestSnapshotEscapingSymlinks(t *testing.T) {
	fsys, _, _ := testSnapshot(t)

	_, err := fsys.Open("apps/x.yaml")
	assertEscape(t, err, "apps/x.yaml", "../../etc/passwd")
	_, err = fs.ReadFile(fsys, "apps/x.yaml")
	assertEscape(t, err, "apps/x.yaml", "../../etc/passwd")
	_, err = fs.Stat(fsys, "apps/abs.yaml")
	assertEscape(t, err, "apps/abs.yaml", "/etc/passwd")
	// Through an in-repo directory link, the error still names the link.
	_, err = fs.Stat(fsys, "base/../x.yaml")
	if !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Stat(base/../x.yaml) error = %v, want fs.ErrInvalid", err)
	}

	// ReadDir lists what it can and reports each escaping link.
	entries, err := fs.ReadDir(fsys, "apps")
	assertEscape(t, err, "apps/abs.yaml", "/etc/passwd") // errors.As finds the first
	if !strings.Contains(err.Error(), "apps/x.yaml") {
		t.Errorf("ReadDir(apps) error %q does not name apps/x.yaml", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"guestbook", "link.yaml"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir(apps) = %v, want %v", names, want)
	}

	// Walking the repository stops at the directory with escaping links...
	err = fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { return nil })
	if err != nil {
		t.Fatalf("WalkDir with a callback that ignores errors: %v", err)
	}
	err = fs.WalkDir(fsys, ".", func(_ string, _ fs.DirEntry, err error) error { return err })
	assertEscape(t, err, "apps/abs.yaml", "/etc/passwd")

	// ...but a callback can skip those errors and still see everything else.
	var walked []string
	var escapes []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		var esc *EscapeError
		if errors.As(err, &esc) {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if errors.As(e, &esc) {
					escapes = append(escapes, esc.Path)
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		walked = append(walked, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"apps/abs.yaml", "apps/x.yaml"}; !slices.Equal(escapes, want) {
		t.Errorf("escapes = %v, want %v", escapes, want)
	}
	for _, p := range []string{"apps/guestbook/service.yaml", "apps/link.yaml", "base", "clean/sub/b.yaml", "hack/run.sh"} {
		if !slices.Contains(walked, p) {
			t.Errorf("WalkDir did not visit %s: %v", p, walked)
		}
	}
	if slices.Contains(walked, "base/deployment.yaml") {
		t.Error("WalkDir followed the directory symlink base (os.DirFS does not)")
	}
}

func TestSnapshotFSTest(t *testing.T) {
	fsys, _, _ := testSnapshot(t)
	for dir, files := range map[string][]string{
		"clean":          {"a.yaml", "sub/b.yaml", "link.yaml", "sub/up"},
		"apps/guestbook": {"deployment.yaml", "service.yaml"},
	} {
		sub, err := fs.Sub(fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(sub, files...); err != nil {
			t.Errorf("fstest.TestFS(%s): %v", dir, err)
		}
	}
}

func TestSnapshotShared(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	sha := remote.sha("main")
	const callers = 8
	results := make([]fs.FS, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			fsys, err := c.Snapshot(t.Context(), remote.url(), sha)
			if err != nil {
				t.Error(err)
			}
			results[i] = fsys
		})
	}
	wg.Wait()
	again, err := c.Snapshot(t.Context(), remote.url()+".git", strings.ToUpper(sha))
	if err != nil {
		t.Fatal(err)
	}
	for i, fsys := range results {
		if fsys != again {
			t.Errorf("caller %d got a different fs.FS", i)
		}
	}
	if s := statsOf(t, c, remote.url()); s.Snapshots != 1 || s.Clones != 1 || s.RefListings != 1 {
		t.Errorf("stats = %+v, want one snapshot built after one clone", s)
	}
}

func TestSnapshotLRU(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{SnapshotCacheSize: 1})
	main, staging := remote.sha("main"), remote.sha("staging")
	a, err := c.Snapshot(t.Context(), remote.url(), main)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Snapshot(t.Context(), remote.url(), staging); err != nil {
		t.Fatal(err)
	}
	b, err := c.Snapshot(t.Context(), remote.url(), main)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("an evicted snapshot was returned again")
	}
	if s := statsOf(t, c, remote.url()); s.Snapshots != 3 {
		t.Errorf("stats = %+v, want 3 snapshots built", s)
	}
	// The evicted snapshot stays usable by whoever holds it.
	assertFile(t, a, "README.md", "# demo\n")
}

func TestSnapshotLimits(t *testing.T) {
	remote := newTestRepo(t)
	sha := remote.sha("main")
	for _, tt := range []struct {
		name  string
		opts  Options
		limit string
	}{
		{"files", Options{MaxFiles: 5}, "MaxFiles"},
		{"bytes", Options{MaxSnapshotBytes: 20}, "MaxSnapshotBytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, tt.opts)
			_, err := c.Snapshot(t.Context(), remote.url(), sha)
			if !errors.Is(err, ErrSnapshotTooLarge) {
				t.Fatalf("error = %v, want ErrSnapshotTooLarge", err)
			}
			if !strings.Contains(err.Error(), tt.limit) {
				t.Errorf("error %q does not name %s", err, tt.limit)
			}
		})
	}
	// The defaults hold the test repository.
	c, _ := newTestCache(t, Options{MaxFiles: 20, MaxSnapshotBytes: 1000})
	if _, err := c.Snapshot(t.Context(), remote.url(), sha); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotNeedsFullSHA(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	if _, err := c.Snapshot(t.Context(), remote.url(), "main"); err == nil {
		t.Error("Snapshot(main) succeeded")
	}
	_, err := c.Snapshot(t.Context(), remote.url(), strings.Repeat("ab", 20))
	if !errors.Is(err, ErrRevisionNotFound) {
		t.Errorf("Snapshot of an unknown commit: error = %v, want ErrRevisionNotFound", err)
	}
}

func TestCommitInfo(t *testing.T) {
	remote := newTestRepo(t)
	c, _ := newTestCache(t, Options{})
	sha := remote.sha("staging")
	info, err := c.CommitInfo(t.Context(), remote.url(), sha)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 1, 1, 0, 2, 0, 0, time.UTC)
	if info.SHA != sha || info.Message != "staging change\n" || info.Author != "Ada Lovelace <ada@example.com>" || !info.Time.Equal(want) {
		t.Errorf("CommitInfo = %+v, want %s, %q, Ada Lovelace, %v", info, sha, "staging change\n", want)
	}
}
