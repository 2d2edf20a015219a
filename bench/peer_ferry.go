package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/config/crd"
)

// applicationsGVR is Argo CD's Application resource, which Ferry serves too.
var applicationsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// ferryEngine runs bin/ferry controller.
type ferryEngine struct {
	bin  string // the ferry binary
	cfg  config
	proc *controllerProcess
}

func (e *ferryEngine) name() string { return "Ferry" }

func (e *ferryEngine) start(ctx context.Context, env *peerEnv) error {
	c, err := client.New(env.cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	if err := crd.Install(ctx, c); err != nil {
		return fmt.Errorf("install Ferry's CRDs: %w", err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil {
		return err
	}
	e.proc, _, err = startController(ctx, e.bin, env.cluster, env.work, e.cfg, strings.Fields(e.cfg.controllerFlags)...)
	return err
}

func (e *ferryEngine) create(ctx context.Context, env *peerEnv) error {
	return createApplications(ctx, env)
}

// createApplications creates env.apps Argo CD Applications app-NNNN,
// userWorkers at a time: automated with prune, path apps/app-NNNN, into bench-(i%10).
func createApplications(ctx context.Context, env *peerEnv) error {
	c, err := client.New(env.cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(userWorkers)
	for i := range env.apps {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			if err := c.Create(ctx, application(name, fmt.Sprintf("bench-%d", i%namespaces), env.repoURL, "apps/"+name, false)); err != nil {
				return fmt.Errorf("create Application %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (e *ferryEngine) apps() (schema.GroupVersionResource, string) { return applicationsGVR, "argocd" }

func (e *ferryEngine) synced(app *unstructured.Unstructured, revision string) bool {
	return argoSynced(app, revision)
}

func (e *ferryEngine) refresh(ctx context.Context, env *peerEnv) (func(*unstructured.Unstructured) bool, error) {
	return hardRefresh(ctx, env, "argocd")
}

func (e *ferryEngine) processes() map[string]int {
	return map[string]int{"ferry controller": e.proc.pid()}
}

func (e *ferryEngine) stop() {
	if e.proc != nil {
		e.proc.stop()
	}
}

// argoSynced is Synced at revision, in Argo CD's status (Ferry writes the
// same).
func argoSynced(app *unstructured.Unstructured, revision string) bool {
	status, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	rev, _, _ := unstructured.NestedString(app.Object, "status", "sync", "revision")
	return status == "Synced" && rev == revision
}

// hardRefresh asks for a hard refresh of every Application in namespace
// ns, and returns the test for one having done it: the annotation is
// cleared and status.reconciledAt is not before the request (reconciledAt
// has whole seconds, so the request's time is truncated).
func hardRefresh(ctx context.Context, env *peerEnv, ns string) (func(*unstructured.Unstructured) bool, error) {
	asked := time.Now().Truncate(time.Second)
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"}}}`)
	if err := patchApps(ctx, env, applicationsGVR, ns, patch); err != nil {
		return nil, fmt.Errorf("ask for a hard refresh: %w", err)
	}
	return func(app *unstructured.Unstructured) bool {
		if _, asking := app.GetAnnotations()["argocd.argoproj.io/refresh"]; asking {
			return false
		}
		at, _, _ := unstructured.NestedString(app.Object, "status", "reconciledAt")
		t, err := time.Parse(time.RFC3339, at)
		return err == nil && !t.Before(asked)
	}, nil
}

// patchApps merge-patches the applications app-NNNN of resource gvr in
// namespace ns, userWorkers at a time.
func patchApps(ctx context.Context, env *peerEnv, gvr schema.GroupVersionResource, ns string, patch []byte) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(userWorkers)
	for i := range env.apps {
		g.Go(func() error {
			name := fmt.Sprintf("app-%04d", i)
			if _, err := env.admin.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("patch %s %s: %w", gvr.Resource, name, err)
			}
			return nil
		})
	}
	return g.Wait()
}
