// Package localcluster starts a real Kubernetes control plane on this machine
// for Ferry's tests, demo and benchmarks: etcd and kube-apiserver, and in full
// mode kube-controller-manager, kube-scheduler and kwok with fake Nodes, so
// Deployments become Available and Jobs Complete without a container runtime.
//
// The binaries are built from Go modules by `make kube` into a cache directory
// outside the work tree (see Binaries). Every process runs in its own process
// group, listens on ports chosen free at start, and writes its log to the
// cluster's directory; Stop ends them all and reports any that survived.
//
// Two identities are provided. The admin identity is in system:masters, which
// API Priority and Fairness exempts from flow control; the user identity is an
// ordinary user bound to cluster-admin through RBAC, so benchmarks that use it
// see the same throttling a controller in a real cluster does.
//
//	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 2})
//	if err != nil { ... }
//	defer c.Stop(context.WithoutCancel(ctx))
//	cfg := c.UserConfig() // *rest.Config for the non-admin user
package localcluster
