package appstate

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// APICluster is a Cluster read straight from the API server, with no watch
// cache: what the CLI uses, with the user's credentials.
type APICluster struct {
	Client client.Client
}

var _ Cluster = APICluster{}

// Watch checks that the cluster serves gvk.
func (c APICluster) Watch(_ context.Context, gvk schema.GroupVersionKind) error {
	_, err := c.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	return err
}

// Cached reads the object from the API server; nil when it does not exist
// or cannot be read.
func (c APICluster) Cached(ctx context.Context, k fsync.Key, apiVersion string) *unstructured.Unstructured {
	u, _ := c.Confirmed(ctx, k, apiVersion)
	return u
}

// Confirmed reads the object from the API server; nil when it does not
// exist.
func (c APICluster) Confirmed(ctx context.Context, k fsync.Key, apiVersion string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(k.Kind)
	err := c.Client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", k, err)
	}
	return u, nil
}

// Diff compares through a server-side apply dry-run.
func (c APICluster) Diff(ctx context.Context, desired *unstructured.Unstructured, ig *diff.Ignorer) (diff.Result, error) {
	return (&diff.Differ{Client: c.Client, FieldManager: fsync.FieldManager}).Diff(ctx, desired, ig)
}

// Scope reports whether a kind is namespaced on the cluster.
func (c APICluster) Scope(gvk schema.GroupVersionKind) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return c.Client.IsObjectNamespaced(u)
}
