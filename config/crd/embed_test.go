package crd

import (
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func TestCRDs(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, crd := range crds {
		byName[crd.Name] = crd
	}
	tests := []struct {
		name       string
		kind       string
		shortNames []string
		columns    []apiextensionsv1.CustomResourceColumnDefinition
	}{
		{
			name:       "applications.argoproj.io",
			kind:       "Application",
			shortNames: []string{"app", "apps"},
			columns: []apiextensionsv1.CustomResourceColumnDefinition{
				{Name: "Sync Status", Type: "string", JSONPath: ".status.sync.status"},
				{Name: "Health Status", Type: "string", JSONPath: ".status.health.status"},
				{Name: "Revision", Type: "string", JSONPath: ".status.sync.revision", Priority: 10},
				{Name: "Project", Type: "string", JSONPath: ".spec.project", Priority: 10},
				{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			},
		},
		{
			name:       "appprojects.argoproj.io",
			kind:       "AppProject",
			shortNames: []string{"appproj", "appprojs"},
		},
		{
			name:       "applicationsets.argoproj.io",
			kind:       "ApplicationSet",
			shortNames: []string{"appset", "appsets"},
		},
	}
	if len(crds) != len(tests)+4 {
		t.Errorf("CRDs() returned %d CRDs, want %d (Argo CD's) and 4 (Flux's)", len(crds), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crd, ok := byName[tt.name]
			if !ok {
				t.Fatalf("no CRD %s", tt.name)
			}
			if crd.Spec.Group != "argoproj.io" || crd.Spec.Names.Kind != tt.kind ||
				crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("group %q kind %q scope %q", crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Scope)
			}
			if !slices.Equal(crd.Spec.Names.ShortNames, tt.shortNames) {
				t.Errorf("short names %q, want %q", crd.Spec.Names.ShortNames, tt.shortNames)
			}
			if len(crd.Spec.Versions) != 1 {
				t.Fatalf("%d versions, want v1alpha1 only", len(crd.Spec.Versions))
			}
			v := crd.Spec.Versions[0]
			if v.Name != "v1alpha1" || !v.Served || !v.Storage {
				t.Errorf("version %s served=%t storage=%t", v.Name, v.Served, v.Storage)
			}
			if v.Subresources == nil || v.Subresources.Status == nil {
				t.Error("no status subresource")
			}
			if tt.columns != nil && !slices.Equal(v.AdditionalPrinterColumns, tt.columns) {
				t.Errorf("printer columns\n got %+v\nwant %+v", v.AdditionalPrinterColumns, tt.columns)
			}
		})
	}
}

// TestCRDsPreserveUnknownFields checks that every object schema under spec and
// operation keeps fields Ferry does not model, so the controller can report
// them instead of the API server pruning them.
func TestCRDsPreserveUnknownFields(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		for _, top := range []string{"spec", "operation"} {
			s, ok := root.Properties[top]
			if !ok {
				continue
			}
			walkObjects(s, crd.Name+"."+top, func(path string, s apiextensionsv1.JSONSchemaProps) {
				if s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields {
					t.Errorf("%s: unknown fields would be pruned", path)
				}
			})
		}
	}
}

// walkObjects calls fn for every object schema with properties in s.
func walkObjects(s apiextensionsv1.JSONSchemaProps, path string, fn func(string, apiextensionsv1.JSONSchemaProps)) {
	if s.Type == "object" && len(s.Properties) > 0 {
		fn(path, s)
	}
	for name, p := range s.Properties {
		walkObjects(p, path+"."+name, fn)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkObjects(*s.Items.Schema, path+"[]", fn)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walkObjects(*s.AdditionalProperties.Schema, path+"{}", fn)
	}
}

func TestCRDsMatchObjects(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := objects()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(crds) {
		t.Fatalf("%d objects, %d CRDs", len(objs), len(crds))
	}
	for i, obj := range objs {
		if obj.GetName() != crds[i].Name || !strings.HasPrefix(obj.GetAPIVersion(), "apiextensions.k8s.io/") ||
			obj.GetKind() != "CustomResourceDefinition" {
			t.Errorf("object %d is %s %s %s, CRD is %s", i, obj.GetAPIVersion(), obj.GetKind(), obj.GetName(), crds[i].Name)
		}
	}
}

// TestFluxCRDs: the image automation kinds are served at Flux's three
// versions with one schema, stored as v1beta2; GitRepository at v1.
func TestFluxCRDs(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"imagerepositories.image.toolkit.fluxcd.io":      {"v1beta1", "v1beta2", "v1"},
		"imagepolicies.image.toolkit.fluxcd.io":          {"v1beta1", "v1beta2", "v1"},
		"imageupdateautomations.image.toolkit.fluxcd.io": {"v1beta1", "v1beta2", "v1"},
		"gitrepositories.source.toolkit.fluxcd.io":       {"v1"},
	}
	for _, crd := range crds {
		versions, ok := want[crd.Name]
		if !ok {
			continue
		}
		delete(want, crd.Name)
		var names []string
		for _, v := range crd.Spec.Versions {
			names = append(names, v.Name)
			if !v.Served || v.Storage != (v.Name == "v1beta2" || len(versions) == 1) {
				t.Errorf("%s %s: served=%t storage=%t", crd.Name, v.Name, v.Served, v.Storage)
			}
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil || v.Subresources == nil || v.Subresources.Status == nil {
				t.Errorf("%s %s: no schema or no status subresource", crd.Name, v.Name)
			}
		}
		if !slices.Equal(names, versions) {
			t.Errorf("%s: versions %q, want %q", crd.Name, names, versions)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing CRDs: %v", want)
	}
}
