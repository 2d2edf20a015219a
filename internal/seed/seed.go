// Package seed holds the manifests of ../shared/seed/gitops-workflows.md
// that Ferry must accept verbatim, in one place: the demo deploys them and the
// tests assert on them.
package seed

import (
	"embed"
	"io/fs"
)

//go:embed manifests
var manifests embed.FS

// Applications returns the seed's two Application manifests (myapp-staging,
// myapp-production), verbatim, as one multi-document YAML.
func Applications() []byte {
	data, err := manifests.ReadFile("manifests/applications.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return data
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
