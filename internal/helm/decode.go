package helm

import (
	"fmt"
	"strings"

	"github.com/ferrycd/ferry/internal/manifest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// decode turns what `helm template` prints into objects, in order. The
// output is split as Kubernetes' YAML reader splits it (on lines of "---",
// optionally followed by a comment), which is how Argo CD reads Helm's
// output; empty documents are dropped and List kinds expanded (as
// internal/render does for manifest files). An error names the template
// from the "# Source:" line Helm prints before each document.
func decode(out string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	source := "(unknown template)"
	for _, doc := range splitDocuments(out) {
		if s := sourceOf(doc); s != "" {
			source = s
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("template %s: invalid YAML: %w", source, err)
		}
		var v any
		if err := utiljson.Unmarshal(j, &v); err != nil {
			return nil, fmt.Errorf("template %s: %w", source, err)
		}
		if v == nil {
			continue // an empty document
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("template %s: a document is a %s, not a Kubernetes object", source, manifest.JSONKind(v))
		}
		items, _, err := manifest.Objects(m)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", source, err)
		}
		for _, item := range items {
			objs = append(objs, &unstructured.Unstructured{Object: item})
		}
	}
	return objs, nil
}

// splitDocuments splits a YAML stream on separator lines: "---" followed by
// nothing but spaces or a comment.
func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if rest, ok := strings.CutPrefix(line, "---"); ok {
			if rest = strings.TrimSpace(rest); rest == "" || rest[0] == '#' {
				docs = append(docs, cur.String())
				cur.Reset()
				continue
			}
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

// sourceOf returns the template named by the "# Source:" comment among a
// document's leading comments, "" when there is none.
func sourceOf(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "# Source: "); ok {
			return strings.TrimSpace(s)
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			return ""
		}
	}
	return ""
}
