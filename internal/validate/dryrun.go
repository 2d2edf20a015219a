package validate

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fsync "github.com/ferrycd/ferry/internal/sync"
)

// ServerDryRun dry-runs objects on a cluster with a server-side apply and
// dryRun=All, so admission (defaulting, validation, webhooks, policies) judges
// them as in a sync, and nothing is written. It is what
// `kubectl apply --dry-run=server` in a CI script does, with the field
// manager a sync uses.
type ServerDryRun struct {
	client client.Client
}

// NewServerDryRun connects to the cluster of cfg.
func NewServerDryRun(cfg *rest.Config) (*ServerDryRun, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return &ServerDryRun{client: c}, nil
}

// DryRun implements DryRunner. An object in a namespace the cluster does
// not have yet, or of a kind it does not serve yet, is a Skip saying which.
func (s *ServerDryRun) DryRun(ctx context.Context, obj *unstructured.Unstructured, namespace string) error {
	u := obj.DeepCopy()
	namespaced, err := s.client.IsObjectNamespaced(u)
	if meta.IsNoMatchError(err) {
		return &Skip{Reason: fmt.Sprintf("the cluster does not serve %s", u.GroupVersionKind()), Kind: u.GroupVersionKind()}
	}
	if err != nil {
		return err
	}
	switch {
	case !namespaced:
		u.SetNamespace("")
	case u.GetNamespace() == "" && namespace != "":
		u.SetNamespace(namespace)
	case u.GetNamespace() == "":
		u.SetNamespace("default")
	}
	u.SetResourceVersion("")
	err = s.client.Patch(ctx, u, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(fsync.FieldManager))
	if apierrors.IsNotFound(err) && namespaced {
		return &Skip{Reason: fmt.Sprintf("namespace %s does not exist on the cluster", u.GetNamespace()), Namespace: u.GetNamespace()}
	}
	return err
}
