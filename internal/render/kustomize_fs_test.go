package render

import (
	"context"
	"errors"
	"io"
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
