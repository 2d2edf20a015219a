package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// rawResult is the API server's own limit on the workload: its objects
// applied by a plain loop, with no engine.
type rawResult struct {
	objects int
	took    time.Duration
	workers int
}

func (r *rawResult) rate() float64 { return float64(r.objects) / r.took.Seconds() }

// rawWorkers is the loop's parallelism: ../shared/PERF-NOTES.md measured
// 16 workers near the API server's limit on this machine kind.
const rawWorkers = 16

// rawBench applies the workload's objects (-apps × podinfo's four, into the
// ten namespaces) with server-side apply and force, 16 at a time, as the
// non-admin user with no client rate limit, on a control plane of its own
// with the same audit log as the engines': the rate an engine is compared
// with.
func rawBench(ctx context.Context, cfg config, dir string) (*rawResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args, _, err := auditArgs(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(os.Stderr, "raw: starting a local control plane")
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1, BinDir: cfg.kubeDir, APIServerArgs: args})
	if err != nil {
		return nil, err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	if _, err := newPeerEnv(ctx, c, dir, "", 0, 0); err != nil { // the namespaces
		return nil, err
	}
	objs, err := workloadObjects(cfg.apps)
	if err != nil {
		return nil, err
	}
	user := c.UserConfig()
	user.QPS, user.Burst = -1, 0 // no client-side rate limit
	dyn, err := dynamic.NewForConfig(user)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "raw: applying %d objects with %d workers\n", len(objs), rawWorkers)
	began := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rawWorkers)
	for _, obj := range objs {
		g.Go(func() error { return rawApply(gctx, dyn, obj) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res := &rawResult{objects: len(objs), took: time.Since(began), workers: rawWorkers}
	fmt.Fprintf(os.Stderr, "raw: %d objects in %s (%.0f/s)\n", res.objects, res.took.Round(time.Millisecond), res.rate())
	return res, nil
}

func rawApply(ctx context.Context, dyn dynamic.Interface, obj *unstructured.Unstructured) error {
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = dyn.Resource(workloadGVR(obj)).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "bench-raw", Force: &force})
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// workloadObjects are the objects of apps applications, each in its
// namespace, as the engines apply them.
func workloadObjects(apps int) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i := range apps {
		name := fmt.Sprintf("app-%04d", i)
		objs, err := decodeObjects(strings.NewReader(podinfo(name)), name)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			obj.SetNamespace(fmt.Sprintf("bench-%d", i%namespaces))
		}
		out = append(out, objs...)
	}
	return out, nil
}

// workloadGVR is the resource of one of podinfo's four kinds.
func workloadGVR(obj *unstructured.Unstructured) schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(obj.GetAPIVersion())
	resources := map[string]string{"ServiceAccount": "serviceaccounts", "Service": "services", "Deployment": "deployments", "Ingress": "ingresses"}
	return gv.WithResource(resources[obj.GetKind()])
}
