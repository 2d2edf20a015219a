// Package source is Ferry's one way to read Git repositories.
//
// Reading a repository must be cheap, because every application reads one on
// every reconcile. Flux spends about a fifth of its CPU downloading and
// unpacking a whole repository archive per Kustomization. A Cache instead
// keeps:
//
//   - one bare repository per repository URL on disk (Options.Dir), cloned
//     once and then fetched incrementally;
//   - one ref listing per repository per poll interval, however many
//     applications ask, with concurrent callers sharing one listing and fetch;
//   - one in-memory snapshot per revision, built once and shared read-only by
//     every application that renders from it.
//
// Applications resolve their targetRevision to a commit, then render from
// that commit's snapshot:
//
//	cache, err := source.NewCache(source.Options{Dir: "/var/cache/ferry/git"})
//	...
//	sha, err := cache.Resolve(ctx, app.RepoURL, app.TargetRevision, hardRefresh)
//	...
//	fsys, err := cache.Snapshot(ctx, app.RepoURL, sha)
//	...
//	manifests, err := fs.Sub(fsys, app.Path)
//
// A snapshot never reads outside the repository: it is built from Git
// objects in memory, and symlinks that point outside the repository are
// reported as *EscapeError instead of being followed.
//
// Repositories are identified by NormalizeURL, so https://host/org/repo and
// https://host/org/repo.git share one cache. Errors name a repository by that
// normalized URL, which never carries a password or token.
//
// The file transport (file:// URLs and local paths) runs git-upload-pack, so
// it needs git installed; http(s) and ssh are implemented in Go.
package source
