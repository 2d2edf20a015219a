// Package examples holds example manifests of a GitOps workflow, written for
// Argo CD and Flux, that Ferry must accept verbatim: two Applications
// (staging and production), the myapp directory they deploy, sync waves with
// a PreSync hook, Flux image automation and a multi-cluster ApplicationSet.
// They are kept in one place: the demo deploys them and the tests assert on
// them.
package examples

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed manifests
var manifests embed.FS

// ApplicationDocuments returns the two example Application manifests
// (myapp-staging, myapp-production), verbatim, one YAML document each.
func ApplicationDocuments() ([][]byte, error) {
	data, err := manifests.ReadFile("manifests/applications.yaml")
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split the example Applications: %w", err)
		}
		docs = append(docs, doc)
	}
}

// MyApp returns the files of the example repository's apps/<env>/myapp
// directory: a Kustomization with a Deployment (carrying a Flux
// $imagepolicy marker on the line above its image), a Service and a
// ConfigMap.
func MyApp() fs.FS {
	sub, err := fs.Sub(manifests, "manifests/myapp")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return sub
}

// SyncWaves returns the example sync-wave manifests, verbatim with their
// comments: Namespace myapp
// (wave -1), ConfigMap myapp-config (wave 0), the PreSync Job db-migrate
// (wave 1, HookSucceeded) and Deployment myapp (wave 2).
func SyncWaves() []byte {
	data, err := manifests.ReadFile("manifests/sync-waves.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}

// ImageAutomation returns the example Flux image automation manifests
// (image.toolkit.fluxcd.io/v1beta1), verbatim: the ImageRepository, ImagePolicy
// and ImageUpdateAutomation named myapp in flux-system (registry host
// registry.example.com, GitRepository gitops-repo).
func ImageAutomation() []byte {
	data, err := manifests.ReadFile("manifests/image-automation.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}

// ApplicationSet returns the example multi-cluster ApplicationSet,
// verbatim: a clusters generator selecting
// environment=production, stamping out myapp-{{name}} with the path
// apps/{{metadata.labels.region}}/myapp and server {{server}}.
func ApplicationSet() []byte {
	data, err := manifests.ReadFile("manifests/applicationset.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}
