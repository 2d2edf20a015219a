// Package render turns an application's source — a directory inside one Git revision — into the
// Kubernetes objects it declares, the way Argo CD's repo server does for plain-manifest
// ("Directory"), Kustomize and Helm sources, but in process and from memory.
//
// The revision is an io/fs.FS rooted at the repository root, shared read-only by every
// application that uses it: nothing is checked out or copied per render, and nothing outside the
// FS can be read (the FS decides what its symlinks may reach; render refuses "..", absolute
// paths and remote references itself).
//
//	r := render.NewRenderer(render.Limits{}) // once per process
//	res, err := r.Render(ctx, revisionFS, render.Source{
//		Path:      "apps/staging/myapp",
//		Kustomize: &render.KustomizeOptions{Images: []string{"nginx=nginx:1.27"}},
//	})
//	// res.Type == "Kustomize"; res.Objects in kustomize's output order.
//
// A source is a Helm source when its directory holds a Chart.yaml (helm.go; a chart from a
// Helm repository renders through RenderChart), a Kustomize source when it holds
// kustomization.yaml, kustomization.yml or Kustomization, and a Directory source otherwise. A
// render is all or nothing: any error (an *Error naming the repository file and, when known, the
// line) means no objects.
//
// Kustomize runs through krusty with plugins disabled and load restrictions on. Its helmCharts
// are refused unless KustomizeOptions.EnableHelm; then Ferry inflates them itself, through
// internal/helm, before kustomize runs (kustomize_helm.go), never with a helm binary. Remote
// bases and resources are refused before kustomize runs; charts are fetched only through
// Source.Dependencies.
// kustomize's parsed OpenAPI schema is process-wide state in kustomize: NewRenderer parses it
// once, and no render resets it (Flux re-parses it on every build; see PERF-NOTES).
//
// Rendered objects are returned as the source declares them: render does not default namespaces,
// add tracking metadata or apply any other policy; that is the caller's job.
package render
