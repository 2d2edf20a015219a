package render

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"
)

func TestKustomizeFS(t *testing.T) {
	repo := mapFS(map[string]string{
		"apps/a/kustomization.yaml": "resources: [cm.yaml]\n",
		"apps/a/cm.yaml":            "apiVersion: v1\n",
	})
	k := newKustomizeFS(t.Context(), repo, &budget{limits: Limits{MaxBytes: 1 << 20}})

	if !k.IsDir("/repo/apps/a") || k.IsDir("/repo/apps/a/cm.yaml") || !k.Exists("/repo/apps/a/cm.yaml") {
		t.Error("repository paths are not mapped under /repo")
	}
	for _, p := range []string{"/apps/a/cm.yaml", "/repo/../apps/a/cm.yaml", "/etc/passwd", "/repo/apps/a/missing"} {
		if k.Exists(p) {
			t.Errorf("Exists(%q) = true outside the repository or for a missing file", p)
		}
	}
	dir, file, err := k.CleanedAbs("/repo/apps/a/../a/cm.yaml")
	if err != nil || dir != "/repo/apps/a" || file != "cm.yaml" {
		t.Errorf("CleanedAbs = %q, %q, %v", dir, file, err)
	}
	if names, err := k.ReadDir("/repo/apps/a"); err != nil || !slices.Equal(names, []string{"cm.yaml", "kustomization.yaml"}) {
		t.Errorf("ReadDir = %q, %v", names, err)
	}
	if matches, err := k.Glob("/repo/apps/*/cm.yaml"); err != nil || !slices.Equal(matches, []string{"/repo/apps/a/cm.yaml"}) {
		t.Errorf("Glob = %q, %v", matches, err)
	}
	f, err := k.Open("/repo/apps/a/cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := io.ReadAll(f); string(data) != "apiVersion: v1\n" {
		t.Errorf("Open read %q", data)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, errReadOnly) {
		t.Errorf("writing a repository file: %v, want errReadOnly", err)
	}

	// Only the overlay is writable.
	for name, write := range map[string]func() error{
		"WriteFile": func() error { return k.WriteFile("/repo/apps/a/cm.yaml", nil) },
		"Create":    func() error { _, err := k.Create("/repo/x"); return err },
		"MkdirAll":  func() error { return k.MkdirAll("/repo/x") },
		"RemoveAll": func() error { return k.RemoveAll("/repo/apps") },
		"outside":   func() error { return k.WriteFile("/tmp/x", nil) },
	} {
		if err := write(); !errors.Is(err, errReadOnly) {
			t.Errorf("%s outside the overlay: %v, want errReadOnly", name, err)
		}
	}
	if err := k.WriteFile(optionsDir+"/kustomization.yaml", []byte("k")); err != nil {
		t.Fatal(err)
	}
	if !k.IsDir(optionsDir) || !slices.Equal(must(k.ReadDir("/")), []string{"kustomize-options", "repo"}) {
		t.Error("the overlay is not visible")
	}
	if data, err := k.ReadFile(optionsDir + "/kustomization.yaml"); err != nil || string(data) != "k" {
		t.Errorf("ReadFile(overlay) = %q, %v", data, err)
	}
	c, err := k.Create(optionsDir + "/sub/new.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("new"))
	c.Close()
	if data, _ := k.ReadFile(optionsDir + "/sub/new.yaml"); string(data) != "new" {
		t.Errorf("created file holds %q", data)
	}
	if err := k.RemoveAll(optionsDir + "/sub"); err != nil || k.Exists(optionsDir+"/sub/new.yaml") {
		t.Errorf("RemoveAll in the overlay: %v", err)
	}
	if k.err() != nil {
		t.Errorf("failure recorded for ordinary accesses: %v", k.err())
	}
}

func TestKustomizeFSStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	k := newKustomizeFS(ctx, mapFS(map[string]string{"a.yaml": "a"}), &budget{limits: Limits{MaxBytes: 1 << 20}})
	cancel()
	if _, err := k.ReadFile("/repo/a.yaml"); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile after cancel: %v", err)
	}
	if k.Exists("/repo/a.yaml") {
		t.Error("Exists after cancel = true")
	}
}

// TestKustomizeFSGenerated checks that generated files show over the repository's, with the
// directories only they are in, and are read without counting against the budget again.
func TestKustomizeFSGenerated(t *testing.T) {
	b := &budget{limits: Limits{MaxBytes: 1 << 20}}
	k := newKustomizeFS(t.Context(), mapFS(map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\n",
	}), b)
	k.setGenerated(map[string][]byte{
		"app/kustomization.yaml":             []byte("components: [.ferry-helm]\n"),
		"app/.ferry-helm/kustomization.yaml": []byte("kind: Component\n"),
		"app/.ferry-helm/0-x.yaml":           []byte("---\n{}\n"),
	})
	if data, err := k.ReadFile("/repo/app/kustomization.yaml"); err != nil || string(data) != "components: [.ferry-helm]\n" {
		t.Errorf("ReadFile of a replaced file = %q, %v", data, err)
	}
	if b.read != 0 {
		t.Errorf("generated reads counted: %d bytes", b.read)
	}
	if data, err := k.ReadFile("/repo/app/cm.yaml"); err != nil || string(data) != "apiVersion: v1\n" {
		t.Errorf("ReadFile of a repository file = %q, %v", data, err)
	}
	if !k.IsDir("/repo/app/.ferry-helm") || !k.Exists("/repo/app/.ferry-helm/0-x.yaml") || k.IsDir("/repo/app/.ferry-helm/0-x.yaml") {
		t.Error("generated directory or file missing")
	}
	if names, err := k.ReadDir("/repo/app"); err != nil || !slices.Equal(names, []string{".ferry-helm", "cm.yaml", "kustomization.yaml"}) {
		t.Errorf("ReadDir(app) = %q, %v", names, err)
	}
	if names, err := k.ReadDir("/repo/app/.ferry-helm"); err != nil || !slices.Equal(names, []string{"0-x.yaml", "kustomization.yaml"}) {
		t.Errorf("ReadDir(.ferry-helm) = %q, %v", names, err)
	}
	if matches, err := k.Glob("/repo/app/.ferry-helm/*.yaml"); err != nil || len(matches) != 2 {
		t.Errorf("Glob = %q, %v", matches, err)
	}
	var walked []string
	if err := k.Walk("/repo/app", func(p string, _ fs.FileInfo, err error) error {
		walked = append(walked, p)
		return err
	}); err != nil || len(walked) != 6 {
		t.Errorf("Walk = %q, %v", walked, err)
	}
	if err := k.WriteFile("/repo/app/.ferry-helm/0-x.yaml", nil); err == nil {
		t.Error("generated files are writable")
	}
	f, err := k.repo.Open("app/.ferry-helm")
	if err != nil {
		t.Fatal(err)
	}
	if entries, err := f.(fs.ReadDirFile).ReadDir(-1); err != nil || len(entries) != 2 {
		t.Errorf("opened generated directory lists %v, %v", entries, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
