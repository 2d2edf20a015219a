package appset

import (
	"context"
	"errors"
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
		part           Part
		want           []string
	}{
		{
			name: "a generator that does not decode",
			manifest: `
spec:
  generators: [{list: {elements: 3}}]`,
			part: PartGenerators,
			want: []string{"spec.generators[0]:"},
		},
		{
			name: "a generator error names its position",
			manifest: `
spec:
  generators: [{list: {elements: [{a: b}]}}, {}]`,
			part: PartGenerators,
			want: []string{"spec.generators[1]: no supported generator set"},
		},
		{
			name: "two parameter sets render one name",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}, {env: b}]}}]
  template: {metadata: {name: same}, spec: {project: default}}`,
			part: PartApplication,
			want: []string{"parameter sets 0 and 1 both render the Application same"},
		},
		{
			name: "no name",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {labels: {env: '{{env}}'}}, spec: {project: default}}`,
			part: PartApplication,
			want: []string{"parameter set 0: the rendered Application has no metadata.name"},
		},
		{
			name: "another namespace",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {name: 'x-{{env}}', namespace: other}, spec: {project: default}}`,
			part: PartApplication,
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
			part: PartTemplate,
			want: []string{"parameter set 0: spec.template:", "region"},
		},
		{
			name: "a template that is no Application",
			manifest: `
spec:
  generators: [{list: {elements: [{env: a}]}}]
  template: {metadata: {name: x}, spec: {project: [not, a, string]}}`,
			part: PartTemplate,
			want: []string{"parameter set 0: the rendered template is not an Application"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			as := parseAppSet(t, "metadata: {name: s, namespace: argocd}\n"+c.manifest)
			_, err := Applications(t.Context(), as, nil, testRepo)
			wantError(t, err, c.want...)
			var spec *SpecError
			if !errors.As(err, &spec) || spec.Part != c.part {
				t.Errorf("error %v (%T) is not a *SpecError with part %s", err, err, c.part)
			}
		})
	}
}

// TestApplicationsInputErrors: a repository that cannot be read, or a cancelled context, is no
// error of the ApplicationSet: it is not a *SpecError, so the controller retries.
func TestApplicationsInputErrors(t *testing.T) {
	as := parseAppSet(t, `
metadata: {name: s, namespace: argocd}
spec:
  generators:
  - matrix:
      generators:
      - list: {elements: [{a: b}]}
      - git: {repoURL: "https://git.example.com/other.git", revision: main, files: [{path: "*.yaml"}]}
  template: {metadata: {name: x}, spec: {project: default}}`)
	_, err := Applications(t.Context(), as, nil, testRepo)
	wantError(t, err, "spec.generators[0].matrix.generators[1].git: reading files", "unknown repository")
	var input *InputError
	var spec *SpecError
	if !errors.As(err, &input) || errors.As(err, &spec) {
		t.Errorf("error %v: want an *InputError and no *SpecError", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	as = parseAppSet(t, `
metadata: {name: s, namespace: argocd}
spec:
  generators: [{list: {elements: [{a: b}]}}]
  template: {metadata: {name: x}, spec: {project: default}}`)
	_, err = Applications(ctx, as, nil, testRepo)
	if !errors.Is(err, context.Canceled) || errors.As(err, &spec) {
		t.Errorf("error %v: want context.Canceled and no *SpecError", err)
	}
}
