package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/requestedat"
	"github.com/ferrycd/ferry/internal/metrics"
)

// Setup registers the three controllers with the manager. notify is called
// with a repository URL after every push; m (may be nil) counts scans and
// pushes.
func Setup(mgr ctrl.Manager, notify func(ctx context.Context, repoURL string), m *metrics.Metrics) error {
	store := newTagStore()
	for name, setup := range map[string]func() error{
		"ImageRepository":       func() error { return setupRepositories(mgr, store, m) },
		"ImagePolicy":           func() error { return setupPolicies(mgr, store) },
		"ImageUpdateAutomation": func() error { return setupAutomations(mgr, notify, m) },
	} {
		if err := setup(); err != nil {
			return fmt.Errorf("set up the %s controller: %w", name, err)
		}
	}
	return nil
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
