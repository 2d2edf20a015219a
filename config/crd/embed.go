// Package crd holds the CustomResourceDefinitions of the API Ferry serves —
// argoproj.io/v1alpha1 Application and AppProject, Flux's
// image.toolkit.fluxcd.io kinds and source.toolkit.fluxcd.io GitRepository —
// generated from the Go types in api/ by `make generate` and embedded in the
// binary so that Ferry can install them itself:
//
//	if err := crd.Install(ctx, c); err != nil { ... }
//	// Applications can be created and watched from here on.
package crd

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

//go:embed bases/*.yaml
var bases embed.FS

// CRDs returns the embedded CustomResourceDefinitions, ordered by file name.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := manifests()
	if err != nil {
		return nil, err
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(files))
	for _, f := range files {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(f.data, crd); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f.name, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// objects returns the embedded CustomResourceDefinitions as written, holding
// only the fields the files set, which is what server-side apply needs: a
// typed object would also carry zero values the files never set.
func objects() ([]*unstructured.Unstructured, error) {
	files, err := manifests()
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, 0, len(files))
	for _, f := range files {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(f.data, &obj.Object); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f.name, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

type manifest struct {
	name string
	data []byte
}

// manifests reads the embedded files; fs.ReadDir returns them sorted by name.
func manifests() ([]manifest, error) {
	entries, err := fs.ReadDir(bases, "bases")
	if err != nil {
		return nil, fmt.Errorf("read embedded CRDs: %w", err)
	}
	var files []manifest
	for _, e := range entries {
		name := path.Join("bases", e.Name())
		data, err := bases.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read embedded %s: %w", name, err)
		}
		files = append(files, manifest{name: name, data: data})
	}
	return files, nil
}
