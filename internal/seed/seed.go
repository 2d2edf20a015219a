// Package seed holds the manifests of ../shared/seed/gitops-workflows.md
// that Ferry must accept verbatim, in one place: the demo deploys them and the
// tests assert on them.
package seed

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

// ApplicationDocuments returns the seed's two Application manifests
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
			return nil, fmt.Errorf("split the seed's Applications: %w", err)
		}
		docs = append(docs, doc)
	}
}

// MyApp returns the files of the seed repository's apps/<env>/myapp
// directory: a Kustomization with a Deployment (carrying the seed's
// $imagepolicy marker), a Service and a ConfigMap.
func MyApp() fs.FS {
	sub, err := fs.Sub(manifests, "manifests/myapp")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return sub
}

// SyncWaves returns the manifests of the seed's "Implementing Sync Waves and
// Dependencies" section, verbatim with their comments: Namespace myapp
// (wave -1), ConfigMap myapp-config (wave 0), the PreSync Job db-migrate
// (wave 1, HookSucceeded) and Deployment myapp (wave 2).
func SyncWaves() []byte {
	data, err := manifests.ReadFile("manifests/sync-waves.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}

// ImageAutomation returns the manifests of the seed's "Handling Image
// Updates Automatically" section, verbatim: the ImageRepository, ImagePolicy
// and ImageUpdateAutomation named myapp in flux-system (registry host
// registry.example.com, GitRepository gitops-repo).
func ImageAutomation() []byte {
	data, err := manifests.ReadFile("manifests/image-automation.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}

// ApplicationSet returns the seed's "Multi-Cluster Deployments"
// ApplicationSet, verbatim: a clusters generator selecting
// environment=production, stamping out myapp-{{name}} with the path
// apps/{{metadata.labels.region}}/myapp and server {{server}}.
func ApplicationSet() []byte {
	data, err := manifests.ReadFile("manifests/applicationset.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
}
