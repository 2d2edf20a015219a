package validate

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	openapivalidate "k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/ferrycd/ferry/config/crd"
)

// kubernetesOpenAPI is every schema of the pinned Kubernetes version's
// OpenAPI v3 documents, merged and gzipped by `make openapi` (hack/openapi)
// from a local API server built from that version.
//
//go:embed openapi/kubernetes.json.gz
var kubernetesOpenAPI []byte

// KubernetesVersion is the version kubernetesOpenAPI was generated from.
const KubernetesVersion = "v1.37.2"

var (
	baseOnce   sync.Once
	baseModels map[string]*spec.Schema
	baseErr    error
)

// kubernetesModels decodes the embedded schemas once per process; the
// result is shared and never modified.
func kubernetesModels() (map[string]*spec.Schema, error) {
	baseOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(kubernetesOpenAPI))
		if err != nil {
			baseErr = fmt.Errorf("embedded Kubernetes schemas: %w", err)
			return
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			baseErr = fmt.Errorf("embedded Kubernetes schemas: %w", err)
			return
		}
		if err := json.Unmarshal(data, &baseModels); err != nil {
			baseErr = fmt.Errorf("embedded Kubernetes schemas: %w", err)
		}
	})
	return baseModels, baseErr
}

// Schemas checks objects against OpenAPI schemas offline: the pinned
// Kubernetes version's, Ferry's own CRDs' (Argo CD's Application and
// AppProject) and those of the CRDs found in the repository.
//
// Structure is checked the way the API server's strict field validation
// does, with structured-merge-diff's typed conversion: unknown fields and
// wrong types are errors naming the field path. Custom resources are also
// checked against their CRD's value constraints (required, enum, pattern,
// bounds), with kube-openapi's validator, the one the API extensions server
// runs (without its CEL rules, which would pull the API server in).
type Schemas struct {
	types   managedfields.TypeConverter
	crds    map[schema.GroupVersionKind]*openapivalidate.SchemaValidator
	defined map[schema.GroupVersionKind]string // kind → the CRD file that defines it
}

// CRDSource is a CustomResourceDefinition found in the repository, with its
// file for messages.
type CRDSource struct {
	Object *unstructured.Unstructured
	File   string
}

// NewSchemas builds the checker. A CRD whose schema cannot be used is
// returned as a finding (rule "schema"), not a failure of the whole run.
func NewSchemas(repoCRDs []CRDSource) (*Schemas, []Finding, error) {
	base, err := kubernetesModels()
	if err != nil {
		return nil, nil, err
	}
	models := maps.Clone(base)
	s := &Schemas{crds: map[schema.GroupVersionKind]*openapivalidate.SchemaValidator{}, defined: map[schema.GroupVersionKind]string{}}
	own, err := crd.CRDs()
	if err != nil {
		return nil, nil, err
	}
	for _, c := range own {
		if err := s.addCRD(models, c, ""); err != nil {
			return nil, nil, fmt.Errorf("Ferry's CRD %s: %w", c.Name, err)
		}
	}
	var findings []Finding
	for _, src := range repoCRDs {
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(src.Object.Object, c); err != nil {
			findings = append(findings, Finding{Rule: "schema", Severity: SeverityError, File: src.File,
				Message: fmt.Sprintf("CustomResourceDefinition %s cannot be read: %v", src.Object.GetName(), err)})
			continue
		}
		if err := s.addCRD(models, c, src.File); err != nil {
			findings = append(findings, Finding{Rule: "schema", Severity: SeverityError, File: src.File,
				Message: fmt.Sprintf("CustomResourceDefinition %s: %v", c.Name, err)})
		}
	}
	if s.types, err = managedfields.NewTypeConverter(models, false); err != nil {
		return nil, nil, fmt.Errorf("build the schema checker: %w", err)
	}
	return s, findings, nil
}

// addCRD adds each served version of a CRD that has a schema: its
// structure to models, its value constraints to s.crds.
func (s *Schemas) addCRD(models map[string]*spec.Schema, c *apiextensionsv1.CustomResourceDefinition, file string) error {
	for _, v := range c.Spec.Versions {
		gvk := schema.GroupVersionKind{Group: c.Spec.Group, Version: v.Name, Kind: c.Spec.Names.Kind}
		s.defined[gvk] = file
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		values, err := toSpec(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		s.crds[gvk] = openapivalidate.NewSchemaValidator(values, nil, "", strfmt.Default)
		// The model gets metadata and kind properties the value rules must
		// not see: a copy.
		model := *values
		model.Properties = maps.Clone(values.Properties)
		model.Extensions = maps.Clone(values.Extensions)
		models[fmt.Sprintf("ferry.crd.%s.%s.%s", gvk.Group, gvk.Version, gvk.Kind)] = asModel(&model, gvk)
	}
	return nil
}

// toSpec converts a CRD schema to kube-openapi's form (the same JSON).
func toSpec(props *apiextensionsv1.JSONSchemaProps) (*spec.Schema, error) {
	data, err := json.Marshal(props)
	if err != nil {
		return nil, err
	}
	out := &spec.Schema{}
	return out, json.Unmarshal(data, out)
}

// asModel makes a CRD version's schema an OpenAPI model as the API server
// publishes it: metadata is an ObjectMeta, apiVersion and kind are strings,
// and the model names its group, version and kind.
func asModel(model *spec.Schema, gvk schema.GroupVersionKind) *spec.Schema {
	if model.Properties == nil {
		model.Properties = map[string]spec.Schema{}
	}
	model.Properties["metadata"] = *spec.RefSchema("#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
	model.Properties["apiVersion"] = *spec.StringProperty()
	model.Properties["kind"] = *spec.StringProperty()
	model.AddExtension("x-kubernetes-group-version-kind", []any{
		map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}})
	return model
}

// definedByRepository reports whether a CRD of the repository defines gvk.
func (s *Schemas) definedByRepository(gvk schema.GroupVersionKind) bool {
	file, ok := s.defined[gvk]
	return ok && file != ""
}

func isNoType(err error) bool {
	return strings.Contains(err.Error(), "no corresponding type for")
}

// Check returns what is wrong with obj, one message per problem, each
// naming the field path. unknown is set when no schema covers the kind.
func (s *Schemas) Check(obj *unstructured.Unstructured) (problems []string, unknown bool) {
	if _, err := s.types.ObjectToTyped(obj); err != nil {
		if isNoType(err) {
			return nil, true
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "errors:") {
				problems = append(problems, strings.TrimPrefix(line, "- "))
			}
		}
	}
	if v, ok := s.crds[obj.GroupVersionKind()]; ok {
		for _, e := range v.Validate(obj.Object).Errors {
			problems = append(problems, e.Error())
		}
	}
	return problems, false
}
