// Package install puts Ferry on a cluster from the manifests the binary
// embeds (package config): it renders the kustomize base in process with
// the caller's namespace, image and replicas, server-side applies it,
// waits until the controller runs, checks a cluster, and uninstalls
// without touching what Ferry deployed.
//
//	objs, err := install.Render(install.Options{Namespace: "argocd", Image: "registry.example/ferry:v1.2.3"})
//	results, err := install.Apply(ctx, c, objs)
//	err = install.Wait(ctx, c, objs, os.Stdout)
//
// Rendering is pure; the other verbs take a controller-runtime client
// (with the user's identity: Kubernetes RBAC decides) and return data for
// the CLI to print, except Wait and Uninstall, which report progress to a
// writer as they go.
package install
