// Command openapi writes the OpenAPI v3 schemas of the pinned Kubernetes
// version, as served by a local API server built from it, into the file
// `ferry validate` embeds: every group-version's components.schemas merged
// into one map (schema names are global, such as
// io.k8s.api.apps.v1.Deployment), gzipped. Nothing is downloaded: the schemas
// come from the same binaries the tests run.
//
//	go run ./hack/openapi -o internal/validate/openapi/kubernetes.json.gz
package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"

	"k8s.io/client-go/discovery"

	"github.com/ferrycd/ferry/internal/localcluster"
)

func main() {
	out := flag.String("o", "internal/validate/openapi/kubernetes.json.gz", "output file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string) (err error) {
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeAPI})
	if err != nil {
		return err
	}
	defer func() {
		if serr := c.Stop(context.WithoutCancel(ctx)); err == nil {
			err = serr
		}
	}()
	dc, err := discovery.NewDiscoveryClientForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		return fmt.Errorf("list OpenAPI v3 paths: %w", err)
	}
	names := make([]string, 0, len(paths))
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	schemas := map[string]json.RawMessage{}
	for _, p := range names {
		data, err := paths[p].Schema("application/json")
		if err != nil {
			return fmt.Errorf("get OpenAPI v3 of %s: %w", p, err)
		}
		var doc struct {
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("parse OpenAPI v3 of %s: %w", p, err)
		}
		for name, s := range doc.Components.Schemas {
			schemas[name] = s
		}
	}
	data, err := json.Marshal(schemas) // map keys sorted: the output is reproducible
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %d schemas from %d group-versions of Kubernetes %s (%d bytes uncompressed)\n", out, len(schemas), len(names), localcluster.KubeVersion, len(data))
	return f.Close()
}
