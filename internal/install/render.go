package install

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/config"
	"github.com/ferrycd/ferry/internal/buildinfo"
)

// The names the base gives what Render changes.
const (
	// DefaultNamespace is the base's namespace, Argo CD's, where the
	// Applications users bring already say they live.
	DefaultNamespace = "argocd"
	// Name is the name of the controller's Deployment, ServiceAccount,
	// Service, bindings and Role.
	Name = "ferry-controller"
	// ImageName is the image the base's Deployment names, tag aside.
	ImageName = "ferry"
	// devTag is the image tag of a build that has no release version.
	devTag = "dev"
)

// Options say how to render the base. The zero value renders it as it is,
// with the image tag of this build.
type Options struct {
	// Namespace replaces argocd: the namespace of every namespaced object,
	// the Namespace itself, and the bindings' subjects. The controller's
	// --home-namespace follows (it is the pod's namespace).
	Namespace string
	// Image replaces the whole image reference (name, tag, digest);
	// default ferry:<this build's version> (DefaultImage).
	Image string
	// Replicas of the controller; 0 keeps the base's 1.
	Replicas int32
}

// DefaultImage is the image `ferry install` deploys when not told: ferry,
// tagged with this build's version, or "dev" for a build without one
// (`go build` outside `make`).
func DefaultImage() string { return ImageName + ":" + versionTag(buildinfo.Read().Version) }

// IsRelease reports whether ref's tag looks like a release (v1.2.3, with
// an optional pre-release): an image one can expect to exist. A `make
// build` from a commit after a tag has a version such as v1.2.3-4-gabcdef0,
// which no release has.
func IsRelease(ref string) bool {
	_, tag, digest := splitImage(ref)
	return digest != "" || releaseTag.MatchString(tag)
}

var releaseTag = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-(alpha|beta|rc)\.?\d+)?$`)

// tagChars is what an image tag may hold (the distribution spec).
var tagChars = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// versionTag turns a build version into an image tag: itself when it is
// one, else "dev".
func versionTag(version string) string {
	if version == "" || !tagChars.MatchString(version) {
		return devTag
	}
	return version
}

// Render renders the base with opts applied and returns its objects in
// apply order (Order).
func Render(opts Options) ([]*unstructured.Unstructured, error) {
	objs, _, err := render(opts)
	return objs, err
}

// Export renders the base as Render does and returns it as one YAML stream
// in the same order, each object's fields in the order the files have.
func Export(opts Options) ([]byte, error) {
	_, docs, err := render(opts)
	if err != nil {
		return nil, err
	}
	return bytes.Join(docs, []byte("---\n")), nil
}

// In the in-memory filesystem kustomize reads: the embedded config/ under
// root, the overlay applying Options beside install/.
const (
	root       = "/config"
	overlayDir = root + "/ferry-install"
)

// render runs kustomize on the overlay and returns the objects, and each
// one's YAML, in apply order.
func render(opts Options) ([]*unstructured.Unstructured, [][]byte, error) {
	overlay, err := overlayFor(opts)
	if err != nil {
		return nil, nil, err
	}
	mem, err := memFS(config.Files())
	if err != nil {
		return nil, nil, err
	}
	if err := mem.WriteFile(overlayDir+"/kustomization.yaml", overlay); err != nil {
		return nil, nil, err
	}
	k := krusty.MakeKustomizer(&krusty.Options{
		LoadRestrictions: types.LoadRestrictionsRootOnly,
		PluginConfig:     types.DisabledPluginConfig(),
	})
	resources, err := k.Run(mem, overlayDir)
	if err != nil {
		return nil, nil, fmt.Errorf("render the install manifests: %w", err)
	}
	type rendered struct {
		obj *unstructured.Unstructured
		doc []byte
	}
	var out []rendered
	for _, res := range resources.Resources() {
		j, err := res.MarshalJSON()
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", res.CurId(), err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(j); err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", res.CurId(), err)
		}
		doc, err := res.AsYAML()
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", res.CurId(), err)
		}
		out = append(out, rendered{obj, doc})
	}
	slices.SortStableFunc(out, func(a, b rendered) int { return cmp.Compare(rank(a.obj), rank(b.obj)) })
	objs := make([]*unstructured.Unstructured, len(out))
	docs := make([][]byte, len(out))
	for i, r := range out {
		objs[i], docs[i] = r.obj, r.doc
	}
	return objs, docs, nil
}

// applyOrder is the order Render returns kinds in: what others need
// first (CRDs, the Namespace, the identity and its rights), the policies
// before the pods they govern, the Deployment last, since it is what
// Wait waits for.
var applyOrder = []string{
	"CustomResourceDefinition", "Namespace", "ServiceAccount",
	"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"NetworkPolicy", "PodDisruptionBudget", "Service", "Deployment",
}

// rank is obj's place in applyOrder; kinds it does not list go last.
func rank(obj *unstructured.Unstructured) int {
	if i := slices.Index(applyOrder, obj.GetKind()); i >= 0 {
		return i
	}
	return len(applyOrder)
}

// overlayFor writes the kustomization that applies opts to ../install.
func overlayFor(opts Options) ([]byte, error) {
	ns := cmp.Or(opts.Namespace, DefaultNamespace)
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("replicas %d: want 1 or more", opts.Replicas)
	}
	ref := cmp.Or(opts.Image, DefaultImage())
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	repo, tag, digest := splitImage(ref)
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{"../install"},
		Namespace: ns,
		Images:    []types.Image{{Name: ImageName, NewName: repo, NewTag: tag, Digest: digest}},
	}
	if opts.Replicas > 0 {
		k.Replicas = []types.Replica{{Name: Name, Count: int64(opts.Replicas)}}
	}
	// kustomize's namespace sets a binding's subjects only when they are
	// named "default"; the controller's ServiceAccount is not.
	subject, err := json.Marshal([]map[string]string{{"op": "replace", "path": "/subjects/0/namespace", "value": ns}})
	if err != nil {
		return nil, err
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		k.Patches = append(k.Patches, types.Patch{Patch: string(subject), Target: &types.Selector{}})
		t := k.Patches[len(k.Patches)-1].Target
		t.Group, t.Kind, t.Name = "rbac.authorization.k8s.io", kind, "ferry-.*"
	}
	return yaml.Marshal(k)
}

// splitImage splits an image reference into its repository, tag and
// digest, as written (a colon before the last slash is a registry port).
func splitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// memFS copies fsys into an in-memory filesystem for kustomize, under root.
func memFS(fsys fs.FS) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join(root, p), data)
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded install manifests: %w", err)
	}
	return mem, nil
}
