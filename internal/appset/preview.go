package appset

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/source"
)

// Preview renders the Applications an ApplicationSet would generate, against the live cluster
// registry (the cluster Secrets of home, read through c) and Git (through sources), without
// creating anything: `ferry appset preview`. It is what the controller generates, by the same
// code.
func Preview(ctx context.Context, c client.Reader, home string, sources *source.Cache, as *v1alpha1.ApplicationSet) ([]*v1alpha1.Application, error) {
	clusters, err := Clusters(ctx, cluster.Registry{Reader: c, Namespace: home, Options: cluster.Options{AllowExec: true}})
	if err != nil {
		return nil, err
	}
	return Applications(ctx, as, clusters, GitRepo{Sources: sources})
}
