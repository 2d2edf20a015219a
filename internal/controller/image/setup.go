package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/automation"
	"github.com/ferrycd/ferry/internal/image/requestedat"
	"github.com/ferrycd/ferry/internal/metrics"
	"github.com/ferrycd/ferry/internal/netguard"
)

// Options are the boundaries of the image automation controllers; the
// zero value is the safe default.
type Options struct {
	// AllowCrossNamespaceRefs lets an ImagePolicy name an ImageRepository,
	// and an ImageUpdateAutomation a GitRepository, of another namespace
	// (Flux's --no-cross-namespace-refs=false).
	AllowCrossNamespaceRefs bool
	// AllowLocalRepositories lets GitRepositories name the controller's
	// disk (file:// URLs and paths).
	AllowLocalRepositories bool
	// Net says which addresses registries and Git servers may be at.
	Net netguard.Policy
}

// Boundary is what an automation run may reach.
func (o Options) Boundary() automation.Boundary {
	return automation.Boundary{AllowCrossNamespace: o.AllowCrossNamespaceRefs, AllowLocal: o.AllowLocalRepositories, Net: o.Net}
}

// Setup registers the three controllers with the manager. notify is called
// with a repository URL after every push; m (may be nil) counts scans and
// pushes.
func Setup(mgr ctrl.Manager, notify func(ctx context.Context, repoURL string), m *metrics.Metrics, opts Options) error {
	store := newTagStore()
	for name, setup := range map[string]func() error{
		"ImageRepository":       func() error { return setupRepositories(mgr, store, m, opts.Net) },
		"ImagePolicy":           func() error { return setupPolicies(mgr, store, opts.AllowCrossNamespaceRefs) },
		"ImageUpdateAutomation": func() error { return setupAutomations(mgr, notify, m, opts.Boundary()) },
	} {
		if err := setup(); err != nil {
			return fmt.Errorf("set up the %s controller: %w", name, err)
		}
	}
	return nil
}

// secretsUncached reads Secrets from the API server and everything else
// from the watch cache: the Secrets image objects name (registry and Git
// credentials) are in any namespace, and a cached read would start a
// cluster-wide watch of every Secret, which would need list and watch on
// all of them (docs/install.md) and hold them all in memory. A read per
// scan or run needs get alone.
type secretsUncached struct {
	client.Reader
	api client.Reader
}

func (r secretsUncached) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		return r.api.Get(ctx, key, obj, opts...)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// RequestScans asks every ImageRepository of image (a registry push
// webhook's repository, with or without a tag) to scan now, through Flux's
// reconcile.fluxcd.io/requestedAt annotation; it returns how many.
func RequestScans(ctx context.Context, c client.Client, image string) int {
	want := repositoryName(image)
	list := &imagev1.ImageRepositoryList{}
	if want == "" || c.List(ctx, list) != nil {
		return 0
	}
	n := 0
	for i := range list.Items {
		r := &list.Items[i]
		if repositoryName(r.Spec.Image) != want {
			continue
		}
		if _, err := requestedat.Request(ctx, c, r); err == nil {
			n++
		}
	}
	return n
}

// repositoryName normalizes an image repository ("registry.example.com/app",
// "app:1.2" → its canonical repository name); "" when it does not parse.
func repositoryName(image string) string {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		if repo, rerr := name.NewRepository(image, name.WeakValidation); rerr == nil {
			return repo.Name()
		}
		return ""
	}
	return ref.Context().Name()
}
