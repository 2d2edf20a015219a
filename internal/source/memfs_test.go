package source

import (
	"cmp"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
)

// memTree builds a snapshotFS from a map of paths: a value starting with
// "->" is a symlink to the rest, a key ending in "/" an empty directory,
// anything else a file with that content.
func memTree(t testing.TB, files map[string]string) *snapshotFS {
	t.Helper()
	root := &node{name: ".", mode: fs.ModeDir | 0o755, tree: &tree{}}
	for p, v := range files {
		dir := root
		elems := strings.Split(strings.TrimSuffix(p, "/"), "/")
		for i, e := range elems {
			last := i == len(elems)-1
			n := dir.child(e)
			if n == nil {
				n = &node{name: e, mode: fs.ModeDir | 0o755, tree: &tree{}}
				if last && !strings.HasSuffix(p, "/") {
					n.mode, n.tree, n.blob = 0o644, nil, &blob{[]byte(v)}
					if target, ok := strings.CutPrefix(v, "->"); ok {
						n.mode, n.blob = fs.ModeSymlink|0o777, &blob{[]byte(target)}
					}
				}
				dir.tree.entries = append(dir.tree.entries, n)
				slices.SortFunc(dir.tree.entries, func(a, b *node) int { return cmp.Compare(a.name, b.name) })
			}
			dir = n
		}
	}
	return &snapshotFS{root: root, modTime: time.Unix(0, 0)}
}

func TestSymlinkResolution(t *testing.T) {
	fsys := memTree(t, map[string]string{
		"f":            "root file",
		"a/f":          "a file",
		"a/up":         "->..",
		"a/sibling":    "->../b/g",
		"a/self":       "->.",
		"a/deep/link":  "->../../b",
		"b/g":          "b file",
		"b/z/w/":       "",
		"z/f":          "physical parent",
		"p/l":          "->../b/z/w",
		"phys":         "->p/l/../../../z/f", // p/l is b/z/w: ../../.. is the root, not above it
		"chain1":       "->chain2",
		"chain2":       "->a/f",
		"esc/rel":      "->../../etc/passwd",
		"esc/abs":      "->/etc/passwd",
		"esc/outin":    "->../../repo/f",
		"esc/via":      "->../a/up/../x", // a/up is the root, so .. escapes
		"esc/chain":    "->../esc/rel",
		"loop/a":       "->b",
		"loop/b":       "->a",
		"loop/self":    "->self",
		"dangling":     "->nowhere",
		"empty-target": "->",
		"file-dir":     "->f/x",
		"hops/x":       "->.",
		"hops/many":    "->" + strings.Repeat("x/", 2000) + "f",
		"hops/f":       "many hops",
		"hops/ok":      "->" + strings.Repeat("x/", 39) + "f",
	})
	tests := []struct {
		name     string
		want     string // file content, or "" for an error
		escape   string // the escaping link reported, if any
		sentinel error
	}{
		{name: "f", want: "root file"},
		{name: "a/up/f", want: "root file"},
		{name: "a/up/a/up/a/f", want: "a file"},
		{name: "a/sibling", want: "b file"},
		{name: "a/self/self/f", want: "a file"},
		{name: "a/deep/link/g", want: "b file"},
		{name: "phys", want: "physical parent"},
		{name: "chain1", want: "a file"},
		{name: "esc/rel", escape: "esc/rel"},
		{name: "esc/abs", escape: "esc/abs"},
		{name: "esc/outin", escape: "esc/outin"},
		{name: "esc/via", escape: "esc/via"},
		{name: "esc/chain", escape: "esc/rel"},
		{name: "a/up/esc/rel", escape: "esc/rel"},
		{name: "hops/ok", want: "many hops"},
		{name: "hops/many", sentinel: errLinkLoop},
		{name: "loop/a", sentinel: errLinkLoop},
		{name: "loop/self", sentinel: errLinkLoop},
		{name: "dangling", sentinel: fs.ErrNotExist},
		{name: "empty-target", sentinel: fs.ErrNotExist},
		{name: "file-dir", sentinel: errNotDir},
		{name: "f/x", sentinel: errNotDir},
		{name: "a/../f", sentinel: fs.ErrInvalid},
		{name: "/f", sentinel: fs.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := fs.ReadFile(fsys, tt.name)
		switch {
		case tt.want != "":
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadFile(%s) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		case tt.escape != "":
			var esc *EscapeError
			if !errors.As(err, &esc) || esc.Path != tt.escape {
				t.Errorf("ReadFile(%s) error = %v, want an escape by %s", tt.name, err, tt.escape)
			}
		default:
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("ReadFile(%s) error = %v, want %v", tt.name, err, tt.sentinel)
			}
		}
	}
}

func TestPhysicalParent(t *testing.T) {
	// ".." after a directory symlink goes to the parent of the link's
	// target, as in the kernel, not to the link's own directory.
	fsys := memTree(t, map[string]string{
		"x/l":   "->../y/z",
		"x/f":   "lexical",
		"y/f":   "physical",
		"y/z/":  "",
		"entry": "->x/l/../f",
	})
	got, err := fs.ReadFile(fsys, "entry")
	if err != nil || string(got) != "physical" {
		t.Errorf("ReadFile(entry) = %q, %v; want %q", got, err, "physical")
	}
}

func TestReadDirBatches(t *testing.T) {
	fsys := memTree(t, map[string]string{
		"d/a":   "1",
		"d/b":   "->/etc/passwd",
		"d/c":   "3",
		"d/d":   "->a",
		"d/sub": "->.",
	})
	f, err := fsys.Open("d")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := f.(fs.ReadDirFile)
	var names []string
	var escaped error
	for {
		batch, err := dir.ReadDir(1)
		for _, e := range batch {
			names = append(names, e.Name())
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if escaped != nil {
				t.Fatalf("second error %v after %v", err, escaped)
			}
			escaped = err
		}
	}
	if want := []string{"a", "c", "d", "sub"}; !slices.Equal(names, want) {
		t.Errorf("entries = %v, want %v", names, want)
	}
	var esc *EscapeError
	if !errors.As(escaped, &esc) || esc.Path != "d/b" {
		t.Errorf("error = %v, want an escape by d/b", escaped)
	}
}

// FuzzSymlinkResolve resolves paths through symlinks with untrusted targets
// (a repository's contents are untrusted input). Resolution must end, never
// panic, and stay inside the tree: an escape is reported for targets that
// are absolute or climb with "..", and only for those.
func FuzzSymlinkResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"../../etc/passwd", "d/l"},
		{"/etc/passwd", "d/l"},
		{"..", "d/l/d/l/d/f"},
		{"../d/l", "d/l"},
		{"./f", "d/l"},
		{"../../d/f", "d/l/x"},
		{"a/../../..", "d/l"},
		{"", "d"},
		{"l", "d/l"},
		{"../g/../d/../..", "d/l"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, name string) {
		fsys := memTree(t, map[string]string{
			"d/f": "file",
			"g":   "top",
		})
		d := fsys.root.child("d")
		d.tree.entries = append(d.tree.entries, &node{name: "l", mode: fs.ModeSymlink | 0o777, blob: &blob{[]byte(target)}})
		slices.SortFunc(d.tree.entries, func(a, b *node) int { return cmp.Compare(a.name, b.name) })

		for _, p := range []string{name, "d/l"} {
			n, real, err := fsys.resolve(p, true)
			var esc *EscapeError
			if errors.As(err, &esc) {
				if esc.Path != "d/l" || esc.Target != target {
					t.Fatalf("resolve(%q) escape %+v, want the link d/l", p, esc)
				}
				if !strings.HasPrefix(target, "/") && !strings.Contains(target, "..") {
					t.Fatalf("resolve(%q) with target %q reported an escape", p, target)
				}
				continue
			}
			if err != nil {
				continue
			}
			// The resolved path leads to the same node without symlinks.
			again, _, err := fsys.resolve(cmp.Or(real, "."), false)
			if err != nil || again != n {
				t.Fatalf("resolve(%q) = %q, which does not resolve back: %v", p, real, err)
			}
			if n.isLink() {
				t.Fatalf("resolve(%q) ended on a symlink", p)
			}
		}
		// ReadDir of the link's directory agrees with resolving the link.
		_, dirErr := fs.ReadDir(fsys, "d")
		_, _, linkErr := fsys.resolve("d/l", true)
		var e1, e2 *EscapeError
		if errors.As(dirErr, &e1) != errors.As(linkErr, &e2) {
			t.Fatalf("ReadDir(d) error %v disagrees with resolve(d/l) error %v", dirErr, linkErr)
		}
	})
}
