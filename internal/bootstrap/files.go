// Package bootstrap puts a cluster's Ferry under Git's management, as
// `flux bootstrap` does for Flux: it commits the install manifests and a
// root Application (an app of apps over the cluster's path) to the
// repository, pushes, installs from the same manifests, and from then on
// Ferry keeps itself matching Git — an upgrade is a commit that changes
// the image tag. Running it again with the same options changes nothing.
//
//	files, _ := bootstrap.Files(opts)            // what goes into Git
//	res, _ := bootstrap.Commit(ctx, opts, files) // commit and push, when different
//	_ = bootstrap.Install(ctx, cluster, opts, os.Stdout)
package bootstrap

import (
	"bytes"
	"fmt"
	"net/url"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/ferrycd/ferry/internal/install"
)

// Options are a bootstrap's inputs.
type Options struct {
	// URL is the repository, Branch the branch the cluster follows, Path
	// the cluster's directory in it (clusters/production).
	URL, Branch, Path string
	// Username and Password authenticate over HTTPS; PrivateKeyFile over
	// ssh. The cluster gets them as an Argo CD repository Secret; they are
	// never committed.
	Username, Password, PrivateKeyFile string
	// Install says how to render the install manifests.
	Install install.Options
	// AuthorName and AuthorEmail sign the commit.
	AuthorName, AuthorEmail string
	// Force overwrites files Git has that differ from what bootstrap
	// writes; without it, Commit refuses (they were changed in Git).
	Force bool
}

// Check refuses options that would put a secret in Git or in output: a
// password in the URL (--password gives it; the URL is committed in the
// root Application).
func (o Options) Check() error {
	if u, err := url.Parse(o.URL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return fmt.Errorf("--url: a password in the URL would be committed (in %s/%s); give it with --password", Dir, RootFile)
		}
	}
	if o.Branch == "" {
		return fmt.Errorf("--branch: required")
	}
	_, err := cleanPath(o.Path)
	return err
}

// The files bootstrap writes, under Options.Path.
const (
	// Dir holds Ferry's own manifests in the cluster's path.
	Dir = "ferry-system"
	// InstallFile is `ferry install --export`'s output.
	InstallFile = "install.yaml"
	// RootFile is the root Application.
	RootFile = "root.yaml"
	// RootName names the root Application.
	RootName = "ferry-system"
	// RepositorySecret names the repository Secret bootstrap creates.
	RepositorySecret = "ferry-system-repository"
)

// namespace is the home namespace the install uses.
func (o Options) namespace() string {
	if o.Install.Namespace != "" {
		return o.Install.Namespace
	}
	return install.DefaultNamespace
}

// cleanPath is the cluster's path as the repository has it: relative,
// slash-separated, no dot segments.
func cleanPath(p string) (string, error) {
	c := path.Clean("/" + strings.TrimSpace(p))[1:]
	if c == "" {
		return "", fmt.Errorf("--path: a directory in the repository is required (e.g. clusters/production)")
	}
	return c, nil
}

// Files returns what bootstrap commits, by path in the repository: the
// install manifests and the root Application.
func Files(opts Options) (map[string][]byte, error) {
	dir, err := cleanPath(opts.Path)
	if err != nil {
		return nil, err
	}
	manifests, err := install.Export(opts.Install)
	if err != nil {
		return nil, err
	}
	if manifests, err = keepOnPrune(manifests); err != nil {
		return nil, err
	}
	return map[string][]byte{
		path.Join(dir, Dir, InstallFile): manifests,
		path.Join(dir, Dir, RootFile):    rootApplication(opts, dir),
	}, nil
}

// keepOnPrune marks the CustomResourceDefinitions and the Namespace
// Prune=false (Argo CD's sync option): the root Application prunes what
// leaves Git, and deleting install.yaml by mistake must not delete every
// Application with its CRD, nor the namespace holding the credentials.
// Ferry's Deployment and RBAC would go, which is what deleting the file
// asks for; `ferry install` brings them back.
func keepOnPrune(manifests []byte) ([]byte, error) {
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(manifests), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("read the install manifests: %w", err)
	}
	for _, n := range nodes {
		if k := n.GetKind(); k != "CustomResourceDefinition" && k != "Namespace" {
			continue
		}
		if err := n.PipeE(kyaml.SetAnnotation("argocd.argoproj.io/sync-options", "Prune=false")); err != nil {
			return nil, fmt.Errorf("mark %s %s: %w", n.GetKind(), n.GetName(), err)
		}
	}
	var out bytes.Buffer
	if err := (kio.ByteWriter{Writer: &out}).Write(nodes); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// rootApplication is the app of apps over dir: everything under it,
// Ferry's own manifests and this Application included, synced
// automatically. It has no resources finalizer: deleting it leaves what it
// deployed in place.
func rootApplication(opts Options, dir string) []byte {
	return fmt.Appendf(nil, `# The root Application ("app of apps") of this cluster, written by ferry bootstrap:
# Ferry deploys everything under %[4]s from Git, itself included (%[5]s/%[6]s).
# An upgrade of Ferry is a commit that changes the image in %[5]s/%[6]s.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  project: default
  source:
    repoURL: %[3]q
    targetRevision: %[7]q
    path: %[4]q
    directory:
      recurse: true
  destination:
    server: https://kubernetes.default.svc
    namespace: %[2]s
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
`, RootName, opts.namespace(), opts.URL, dir, Dir, InstallFile, opts.Branch)
}
