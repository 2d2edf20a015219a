package appset

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// parseAppSet decodes an ApplicationSet manifest written as YAML.
func parseAppSet(t *testing.T, text string) *v1alpha1.ApplicationSet {
	t.Helper()
	as := &v1alpha1.ApplicationSet{}
	if err := yaml.Unmarshal([]byte(text), as); err != nil {
		t.Fatalf("parsing the ApplicationSet: %v", err)
	}
	as.UID = "uid-1"
	return as
}

func TestApplications(t *testing.T) {
	const template = `
  template:
    metadata: {name: 'web-{{path.basename}}', finalizers: [resources-finalizer.argocd.argoproj.io]}
    spec:
      project: default
      source: {repoURL: https://git.example.com/platform.git, path: '{{path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{path.basename}}'}
`
	as := parseAppSet(t, `
metadata: {name: web, namespace: argocd}
spec:
  generators:
  - git: {repoURL: https://git.example.com/platform.git, revision: main, directories: [{path: apps/*}, {path: apps/legacy, exclude: true}]}
`+template)
	apps, err := Applications(t.Context(), as, nil, testRepo)
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, app := range apps {
		ref := metav1.GetControllerOf(app)
		if ref == nil || ref.UID != "uid-1" || ref.Kind != v1alpha1.ApplicationSetKind || ref.Name != "web" {
			t.Errorf("%s: controller %+v, want the ApplicationSet", app.Name, ref)
		}
		got = append(got, map[string]any{"name": app.Name, "namespace": app.Namespace, "finalizers": app.Finalizers,
			"path": app.Spec.Source.Path, "kind": app.Kind})
	}
	wantYAML(t, got, `
- {name: web-My_App, namespace: argocd, finalizers: [resources-finalizer.argocd.argoproj.io], path: apps/My_App, kind: Application}
- {name: web-api, namespace: argocd, finalizers: [resources-finalizer.argocd.argoproj.io], path: apps/api, kind: Application}
- {name: web-web, namespace: argocd, finalizers: [resources-finalizer.argocd.argoproj.io], path: apps/web, kind: Application}
`)

	t.Run("preserveResourcesOnDeletion drops the cascading finalizer", func(t *testing.T) {
		as := as.DeepCopy()
		as.Spec.SyncPolicy = &v1alpha1.ApplicationSetSyncPolicy{PreserveResourcesOnDeletion: true}
		apps, err := Applications(t.Context(), as, nil, testRepo)
		if err != nil {
			t.Fatal(err)
		}
		for _, app := range apps {
			if len(app.Finalizers) != 0 {
				t.Errorf("%s: finalizers %q, want none", app.Name, app.Finalizers)
			}
		}
	})
}

func TestApplicationsErrors(t *testing.T) {
	for _, c := range []struct {
		name, manifest string
		want           []string
	}{
		{
			name: "a generator that does not decode",
			manifest: `
spec:
  generators: [{list: {elements: 3}}]`,
			want: []string{"spec.generators[0]:"},
		},
		{
			name: "a generator error names its position",
			manifest: `
spec:
  generators: [{list: {elements: [{a: b}]}}, {}]`,
			want: []string{"spec.generators[1]: no supported generator set"},
		},
		{
			name: "two parameter sets render one name",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}, {env: b}]}}]
  template: {metadata: {name: same}, spec: {project: default}}`,
			want: []string{"parameter sets 0 and 1 both render the Application same"},
		},
		{
			name: "no name",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {labels: {env: '{{env}}'}}, spec: {project: default}}`,
			want: []string{"parameter set 0: the rendered Application has no metadata.name"},
		},
		{
			name: "another namespace",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {name: 'x-{{env}}', namespace: other}, spec: {project: default}}`,
			want: []string{"parameter set 0: the rendered Application x-a is in namespace other; it must be in the ApplicationSet's, argocd"},
		},
		{
			name: "a missing key with missingkey=error",
			manifest: `
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {name: 'x-{{.region}}'}, spec: {project: default}}`,
			want: []string{"parameter set 0: spec.template:", "region"},
		},
		{
			name: "a template that is no Application",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {name: x}, spec: {project: [not, a, string]}}`,
			want: []string{"parameter set 0: the rendered template is not an Application"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := parseAppSet(t, "metadata: {name: s, namespace: argocd}\n"+c.manifest)
			_, err := Applications(t.Context(), as, nil, testRepo)
			wantError(t, err, c.want...)
		})
	}
}
