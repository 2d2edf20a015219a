// Package helm loads Helm charts safely and renders them in process,
// exactly as `helm template` renders them for Argo CD.
//
//	ch, err := helm.LoadDir(revisionFS, "charts/web", helm.Limits{}) // or helm.LoadArchive(tgz, ...)
//	res, err := helm.Render(ctx, ch, helm.Options{
//		ReleaseName: "web", Namespace: "prod", KubeVersion: "1.37.2",
//		ValueFiles:  []helm.File{{Name: "values-prod.yaml", Data: data}},
//		Parameters:  []helm.Parameter{{Name: "image.tag", Value: "1.28"}},
//	})
//	// res.Objects in helm template's order; res.Warnings (lookup).
//
// # Loading
//
// A chart archive is untrusted input: it comes from a chart repository or
// an OCI registry, or sits in a Git repository under charts/. Argo CD's
// advisory CVE-2023-40584 (and Helm's own archive advisories) describe what
// such an archive can do to the process that expands it: entries whose
// names climb out of the extraction directory ("../", absolute paths),
// links pointing elsewhere, and archives that decompress to far more than
// their size (a few MB of gzip expanding to gigabytes, "explode"). Helm's
// loader guards some of this (names, a total size) but has no bound on the
// number of entries, reads a subchart's archive with the same unbounded
// reader, and accepts things Ferry never needs.
//
// So the expansion is hand-written (archive.go, on archive/tar and
// compress/gzip) and happens in memory, before anything reaches Helm. It
// refuses, naming the entry: ".." elements, absolute and drive-letter
// paths, symbolic and hard links, devices, FIFOs and every other entry
// that is not a regular file or a directory, duplicate entries, data that
// is not gzip or not tar. It stops at the Limits: the archive's compressed
// size, the number of entries, the size of one file and the total, checked
// from each tar header before its content is read, and a cap on every
// decompressed byte (headers included), so a gzip bomb is never
// decompressed past the limits. Only then does Helm's loader
// (loader.LoadFiles) build the chart from the buffered files. Subcharts
// under charts/, directories or .tgz, are loaded by this package too,
// against the same budget. Refusals wrap ErrUnsafeArchive; limits wrap
// ErrLimitExceeded (and, for an archive, ErrUnsafeArchive).
//
// LoadDir reads a chart directory from a repository revision (an fs.FS):
// .helmignore as Helm's ignore package reads it, symlinks followed (the
// fs.FS refuses those leaving the repository), irregular files refused,
// the same limits.
//
// # Rendering
//
// Render runs what `helm template RELEASE CHART --namespace NS
// --include-crds [--skip-tests] [--skip-schema-validation] [--kube-version V]
// [--api-versions A]... -f ... --set ... --set-string ... --set-file ...`
// runs (Argo CD's invocation, where spec.source.helm.values or valuesObject
// is the last -f), with Helm's own packages: dependency processing
// (conditions, tags, aliases, import-values), values coalescing, the
// template engine, the manifest sorter. It does not go through Helm's
// install action, which would bring its release storage, registry and
// plugin machinery into Ferry's binary for a code path it only short-cuts,
// and whose values-schema validation loads $ref references from files and
// over HTTP; the schema is validated here, with the same library and
// messages, and with no loader but the built-in metaschemas. The objects are
// compared with the helm CLI's output by TestMatchesHelmTemplate.
//
// Nothing is fetched and nothing is read but the chart: no registry
// client, no plugins, no post-renderer, DNS lookups off (getHostByName
// returns ""). `lookup` returns an empty result, as in `helm template`: a
// chart calling it renders as if the cluster held nothing, so Render puts
// one warning in Result.Warnings naming the templates that call it (found
// by parsing them; a call from a string rendered with tpl is noticed when
// it happens).
//
// Rendering changes a chart (Helm's dependency processing rewrites it), so
// Render works on a copy: one loaded chart may be rendered by many
// goroutines at once. Helm's package-level state is read only on this
// path, except .Capabilities' default API version list, which Helm's
// install action appends to and Render copies. Helm logs a few warnings
// (a non-boolean condition, coalescing conflicts, skipped unknown hooks)
// to the process's default log and slog loggers.
//
// # Hooks
//
// Helm hooks stay in the objects, annotations unchanged. internal/sync
// reads them as Argo CD does (gitops-engine's pkg/sync/hook/helm):
// pre-install and pre-upgrade run as PreSync hooks, post-install and
// post-upgrade as PostSync hooks; an object with only other Helm hooks
// (test, pre-delete, pre-rollback, ...) is a hook that never runs and is
// never compared; helm.sh/hook-weight is the sync wave when
// argocd.argoproj.io/sync-wave is absent; helm.sh/hook-delete-policy adds
// to Argo CD's delete policies. An argocd.argoproj.io/hook annotation wins
// over helm.sh/hook.
package helm
