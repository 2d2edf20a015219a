package v1alpha1

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/examples"
)

// exampleDocuments returns the documents of the example Applications, the Argo
// CD manifests Ferry must accept verbatim, as YAML.
func exampleDocuments(t testing.TB) [][]byte {
	t.Helper()
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// exampleObject returns example document i as unstructured content.
func exampleObject(t testing.TB, i int) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(exampleDocuments(t)[i], &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// field returns the map at path in obj, creating maps on the way.
func field(obj map[string]any, path ...string) map[string]any {
	m := obj
	for _, key := range path {
		next, ok := m[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[key] = next
		}
		m = next
	}
	return m
}

func TestExampleManifestsDecodeStrictly(t *testing.T) {
	docs := exampleDocuments(t)
	if len(docs) != 2 {
		t.Fatalf("example manifests: got %d documents, want 2", len(docs))
	}
	var staging Application
	if err := yaml.UnmarshalStrict(docs[0], &staging); err != nil {
		t.Fatalf("decode myapp-staging strictly: %v", err)
	}
	src := staging.Spec.Source
	if src == nil || src.RepoURL != "https://github.com/myorg/gitops-repo.git" ||
		src.TargetRevision != "staging" || src.Path != "apps/staging/myapp" {
		t.Errorf("myapp-staging source = %+v", src)
	}
	if sp := staging.Spec.SyncPolicy; sp == nil || sp.Automated == nil ||
		!sp.Automated.Prune || !sp.Automated.SelfHeal ||
		!slices.Equal(sp.SyncOptions, []string{"CreateNamespace=true"}) {
		t.Errorf("myapp-staging syncPolicy = %+v", staging.Spec.SyncPolicy)
	}
	var production Application
	if err := yaml.UnmarshalStrict(docs[1], &production); err != nil {
		t.Fatalf("decode myapp-production strictly: %v", err)
	}
	if production.Spec.SyncPolicy == nil || production.Spec.SyncPolicy.Automated != nil {
		t.Errorf("myapp-production syncPolicy = %+v, want options without automated", production.Spec.SyncPolicy)
	}
}

func TestUnsupportedFields(t *testing.T) {
	tests := []struct {
		name   string
		doc    int
		mutate func(obj map[string]any)
		want   []string
	}{
		{name: "example staging", doc: 0},
		{name: "example production", doc: 1},
		{
			name: "plugin source",
			mutate: func(obj map[string]any) {
				field(obj, "spec", "source")["plugin"] = map[string]any{"name": "cmp"}
			},
			want: []string{"spec.source.plugin"},
		},
		{
			name: "multiple sources, one with a plugin",
			mutate: func(obj map[string]any) {
				field(obj, "spec")["sources"] = []any{map[string]any{"repoURL": "https://example.com/a.git", "ref": "values"},
					map[string]any{"repoURL": "https://example.com/b.git", "plugin": map[string]any{}}}
			},
			want: []string{"spec.sources[1].plugin"},
		},
		{
			name: "unknown key in syncPolicy.automated",
			mutate: func(obj map[string]any) {
				field(obj, "spec", "syncPolicy", "automated")["enabled"] = true
			},
			want: []string{"spec.syncPolicy.automated.enabled"},
		},
		{
			name: "unknown key in syncPolicy",
			mutate: func(obj map[string]any) {
				field(obj, "spec", "syncPolicy", "managedNamespaceMetadata")["labels"] = map[string]any{"team": "a"}
			},
			want: []string{"spec.syncPolicy.managedNamespaceMetadata"},
		},
		{
			name: "zero values of modelled fields are not unsupported",
			mutate: func(obj map[string]any) {
				automated := field(obj, "spec", "syncPolicy", "automated")
				automated["prune"] = false
				automated["selfHeal"] = false
				automated["allowEmpty"] = false
				field(obj, "spec", "source", "directory")["recurse"] = false
				field(obj, "spec", "source")["targetRevision"] = ""
				field(obj, "spec")["revisionHistoryLimit"] = int64(0)
				field(obj, "spec", "syncPolicy", "retry")["limit"] = int64(0)
			},
		},
		{
			name: "modelled optional fields",
			mutate: func(obj map[string]any) {
				field(obj, "spec", "source", "kustomize")["images"] = []any{"nginx=nginx:1.2"}
				field(obj, "spec", "source", "kustomize", "commonLabels")["app.kubernetes.io/part-of"] = "shop"
				field(obj, "spec", "syncPolicy", "retry", "backoff")["factor"] = int64(2)
				field(obj, "spec")["ignoreDifferences"] = []any{
					map[string]any{"kind": "Deployment", "jsonPointers": []any{"/spec/replicas"}},
				}
			},
		},
		{
			name: "jsonnet directory options",
			mutate: func(obj map[string]any) {
				field(obj, "spec", "source", "directory", "jsonnet")["libs"] = []any{"vendor"}
			},
			want: []string{"spec.source.directory.jsonnet"},
		},
		{
			name: "unknown key in a list element",
			mutate: func(obj map[string]any) {
				field(obj, "spec")["ignoreDifferences"] = []any{
					map[string]any{"kind": "Deployment"},
					map[string]any{"kind": "Service", "selector": "x"},
				}
			},
			want: []string{"spec.ignoreDifferences[1].selector"},
		},
		{
			name: "operation",
			mutate: func(obj map[string]any) {
				sync := field(obj, "operation", "sync")
				sync["revision"] = "abc123"
				sync["syncStrategy"] = map[string]any{"hook": map[string]any{}}
				field(obj, "operation", "initiatedBy")["username"] = "alice"
				field(obj, "operation")["info"] = []any{map[string]any{"name": "reason", "value": "hotfix"}}
			},
			want: []string{"operation.info", "operation.sync.syncStrategy"},
		},
		{
			name: "status is not examined",
			mutate: func(obj map[string]any) {
				field(obj, "status")["controllerNamespace"] = "argocd"
				field(obj, "status", "sync")["revisions"] = []any{"abc"}
			},
		},
		{
			name: "metadata",
			mutate: func(obj map[string]any) {
				meta := field(obj, "metadata")
				meta["labels"] = map[string]any{"team": "a"}
				meta["finalizers"] = []any{"resources-finalizer.argocd.argoproj.io"}
				meta["creationTimestamp"] = "2025-01-01T00:00:00Z"
				meta["managedFields"] = []any{map[string]any{
					"manager":  "kubectl",
					"fieldsV1": map[string]any{"f:spec": map[string]any{}},
				}}
			},
		},
		{
			name: "several, sorted",
			mutate: func(obj map[string]any) {
				field(obj, "spec")["info"] = []any{}
				field(obj, "spec", "source")["plugin"] = map[string]any{}
				field(obj, "spec", "source")["helm"] = map[string]any{"valueFiles": []any{"v.yaml"}} // modelled
				obj["extra"] = "x"
			},
			want: []string{"extra", "spec.info", "spec.source.plugin"},
		},
		{
			name: "wrong JSON type is left to validation",
			mutate: func(obj map[string]any) {
				field(obj, "spec")["source"] = "https://example.com/repo.git"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := exampleObject(t, tt.doc)
			if tt.mutate != nil {
				tt.mutate(obj)
			}
			got := UnsupportedFields(obj)
			if !slices.Equal(got, tt.want) {
				t.Errorf("UnsupportedFields() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnsupportedFieldsDoesNotModifyInput(t *testing.T) {
	obj := exampleObject(t, 0)
	field(obj, "status", "sync")["status"] = "Synced"
	before, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	UnsupportedFields(obj)
	after, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("UnsupportedFields modified its input:\nbefore %s\nafter  %s", before, after)
	}
}

// FuzzUnsupportedFields feeds arbitrary JSON objects, as an Application read
// from the API server might hold anything a user wrote.
func FuzzUnsupportedFields(f *testing.F) {
	for _, doc := range exampleDocuments(f) {
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"spec":{"source":{"helm":{"valueFiles":["a"]}},"ignoreDifferences":[{"kind":"x","y":1}]}}`))
	f.Add([]byte(`{"spec":[],"operation":{"sync":{"resources":[null,1,{"foo":{}}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil {
			return
		}
		got := UnsupportedFields(obj)
		if !slices.IsSorted(got) {
			t.Errorf("UnsupportedFields() = %q, not sorted", got)
		}
	})
}
