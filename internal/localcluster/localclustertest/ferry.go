package localclustertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ferry is the binary FerryBinary built, once per test binary.
var ferry struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// FerryBinary builds cmd/ferry once per test binary, for tests that run
// the controller or the CLI as a process, and returns its path. A test
// package that uses it removes it with RemoveFerryBinary from TestMain.
func FerryBinary(t testing.TB) string {
	t.Helper()
	ferry.once.Do(func() {
		ferry.dir, ferry.err = os.MkdirTemp("", "ferry-test-bin-")
		if ferry.err != nil {
			return
		}
		ferry.path = filepath.Join(ferry.dir, "ferry")
		if out, err := exec.Command("go", "build", "-o", ferry.path, "github.com/ferrycd/ferry/cmd/ferry").CombinedOutput(); err != nil {
			ferry.err = fmt.Errorf("go build ferry: %v\n%s", err, out)
		}
	})
	if ferry.err != nil {
		t.Fatal(ferry.err)
	}
	return ferry.path
}

// RemoveFerryBinary deletes what FerryBinary built, if it built anything.
func RemoveFerryBinary() {
	if ferry.dir != "" {
		_ = os.RemoveAll(ferry.dir)
	}
}

// Objects decodes a YAML stream (documents separated by ---) into objects,
// skipping empty documents.
func Objects(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
