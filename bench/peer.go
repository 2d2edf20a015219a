package main

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// engine is a GitOps engine the side-by-side benchmark (-peer) runs on one
// workload: -apps applications, each the four podinfo objects of
// apps/app-NNNN in one Git repository served over smart HTTP, into the
// namespaces bench-0 … bench-9 (app i into bench-(i%10)), prune on, polling
// the repository every -poll-interval. Each engine gets a control plane of
// its own, and runs as the non-admin user (API Priority and Fairness
// applies, as it would in a real cluster). A peer built from Go modules
// under tools/ says so with peer() (peerBuild in peers_run.go): the harness
// builds it with hack/build-peer.sh and passes the directory as env.bin.
type engine interface {
	// name is the table's column heading: Ferry, Flux, Argo CD.
	name() string
	// start installs what the engine needs in the cluster (CRDs,
	// namespaces, settings) with env.admin, starts its processes with
	// env.kubeconfig (whose current context is the non-admin user), and
	// returns once they are ready to reconcile.
	start(ctx context.Context, env *peerEnv) error
	// create creates the env.apps applications (named app-NNNN).
	create(ctx context.Context, env *peerEnv) error
	// apps is what to watch: the applications' resource and namespace.
	apps() (schema.GroupVersionResource, string)
	// synced reports whether an application has applied revision (the
	// repository's commit SHA) and reports it in sync: Synced in Ferry and
	// Argo CD, Ready with that lastAppliedRevision in Flux.
	synced(app *unstructured.Unstructured, revision string) bool
	// refresh asks for a forced full reconcile of every application with
	// nothing changed (Ferry and Argo CD: a hard refresh; Flux: the
	// reconcile.fluxcd.io/requestedAt annotation) and returns the test for
	// an application having completed it.
	refresh(ctx context.Context, env *peerEnv) (func(app *unstructured.Unstructured) bool, error)
	// processes are the engine's processes to measure, by name (their CPU
	// and peak RSS are summed).
	processes() map[string]int
	// stop stops every process start started.
	stop()
}

// peerEnv is what an engine is given.
type peerEnv struct {
	cluster *localcluster.Cluster
	// kubeconfig is a kubeconfig file whose current context is the
	// non-admin user (localcluster.UserContext).
	kubeconfig string
	admin      dynamic.Interface
	// work is a directory of the engine's own (logs, caches).
	work string
	// bin holds the peers' binaries (hack/build-peer.sh's output).
	bin string
	// repoURL is the repository's http:// URL; branch main.
	repoURL      string
	apps         int
	pollInterval time.Duration
}

// userWorkers is how many requests at a time the benchmark makes as the
// user who creates the applications and asks for the refreshes: the same
// for every engine. At 8 the user was the limit (1,000 Applications
// created at ~60 per second under the API server's load, which Ferry kept
// up with: its cold sync measured the creation).
const userWorkers = 32
