// Command crdversions serves a generated CRD at more versions with the same
// schema: Flux's image.toolkit.fluxcd.io kinds exist as v1beta1, v1beta2
// and v1, and Ferry serves all three from one schema (see api/image/v1beta2),
// storing the version its Go types declare. `make generate` runs it after
// controller-gen:
//
//	go run ./hack/crdversions -versions v1beta1,v1beta2,v1 FILE...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	versions := flag.String("versions", "", "comma-separated versions to serve, in order")
	flag.Parse()
	for _, file := range flag.Args() {
		if err := rewrite(file, strings.Split(*versions, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "crdversions:", err)
			os.Exit(1)
		}
	}
}

func rewrite(file string, versions []string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var stored *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Storage {
			stored = &crd.Spec.Versions[i]
		}
	}
	if stored == nil {
		return fmt.Errorf("%s: no storage version", file)
	}
	out := make([]apiextensionsv1.CustomResourceDefinitionVersion, 0, len(versions))
	for _, v := range versions {
		c := *stored.DeepCopy()
		c.Name, c.Served, c.Storage = v, true, v == stored.Name
		out = append(out, c)
	}
	crd.Spec.Versions = out
	crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	data, err = yaml.Marshal(crd)
	if err != nil {
		return err
	}
	// Keep the file as close to controller-gen's as Marshal allows: no
	// status and no creationTimestamp.
	text := strings.Replace(string(data), "  creationTimestamp: null\n", "", 1)
	if i := strings.Index(text, "\nstatus:"); i >= 0 {
		text = text[:i+1]
	}
	return os.WriteFile(file, []byte("---\n"+text), 0o644)
}
