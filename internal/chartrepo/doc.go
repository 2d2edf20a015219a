// Package chartrepo is where Ferry's Helm charts come from: Helm chart
// repositories over HTTP(S), and OCI registries. It finds the version an
// Application asks for and fetches its archive (a .tgz); rendering it is
// internal/helm's job.
//
// An Application names a chart the Argo CD way, spec.source.repoURL +
// chart + targetRevision, where targetRevision is an exact version or a
// semver range (1.2.*, >=1.0.0 <2.0.0, ^1.2):
//
//	repos := chartrepo.New(chartrepo.Options{
//		Credentials: secrets.HelmCredentials, // source.RepositorySecrets
//		Project:     source.ProjectFrom,
//	})
//	version, err := repos.Resolve(ctx, src.RepoURL, src.Chart, src.TargetRevision, hardRefresh)
//	...
//	archive, err := repos.Fetch(ctx, src.RepoURL, src.Chart, version)
//
// # What is fetched
//
//   - A Helm repository (https://, or http:// on loopback or with
//     AllowInsecureHTTP): GET <repoURL>/index.yaml, with basic auth from the
//     repository's Secret. Versions are chosen as Helm chooses them
//     (IndexFile.Get): a version spelled exactly as asked, else the newest
//     the range accepts, prereleases only for a range that names one. The
//     chart URL comes from the index, relative URLs resolved against
//     repoURL; credentials go to the index's host only, elsewhere only with
//     passCredentials (WithPassCredentials), and never across a redirect to
//     another host. The archive is checked against the index's digest.
//   - An OCI registry (oci://host/path, or Argo CD's host/path with
//     enableOCI: "true" in the Secret): the chart is host/path/<chart>,
//     versions are its tags (Helm writes "+" as "_" in tags), and a fetch
//     pulls the manifest's one layer of media type
//     application/vnd.cncf.helm.chart.content.v1.tar+gzip, refusing
//     anything else. Plain-HTTP registries only on loopback, unless
//     AllowInsecureHTTP.
//
// Anything else (file://, ssh://, git://, a local path, host/path without
// enableOCI) is refused with an error wrapping ErrRefused, which the
// controller reports as an invalid spec and does not retry.
//
// # Caches and caps
//
// Each repository's index (or, for OCI, each chart's tag list) is fetched
// once per PollInterval (3m, Argo CD's repository cache) for every caller,
// concurrent callers sharing one download; a forced Resolve (a hard
// refresh) fetches now. A failed refresh keeps serving the last good index
// until it is two intervals old. Archives are kept in an LRU bounded in
// bytes. Both caches are keyed by the repository and the credentials that
// read it, so what one project's credentials fetched is never served to a
// project without them.
//
// Every response body is capped: an index by MaxIndexBytes (32 MiB) and
// IndexTimeout (60s) together, so an index that never ends stops at
// whichever comes first, with an error saying which; an archive by
// MaxChartBytes (16 MiB) and Timeout (60s). This answers Argo CD's
// CVE-2024-29893 (GHSA-jhwx-mhww-rgc3): its repo-server read a Helm index
// without bound, and a repository streaming one forever exhausted its
// memory. Keeping credentials to the index's host unless passCredentials
// answers Helm's CVE-2021-32690 (GHSA-56hp-xqp3-w2jf), which Argo CD
// inherited: an index could send them to any domain. Connections go
// through internal/netguard (no link-local or cloud
// metadata addresses, checked at dial time). Errors name the repository
// (its normalized URL, which never holds credentials), the chart and the
// version or range, and never a password.
//
// # Why not Helm's getter
//
// HTTP is written here over net/http rather than through Helm's getter and
// repo packages: the getter reads bodies whole with no size cap, follows
// redirects with the credentials Helm decides, and its package pulls Helm's
// OCI client and plugin runtime into the binary. The index is parsed into a
// struct with the fields of Helm's repo/v1 IndexFile that choose and
// download a version; the tests check that the choice is Helm's. OCI goes
// through go-containerregistry, as internal/image/registry does, with the
// same kind of capped transport.
package chartrepo
