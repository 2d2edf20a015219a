package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/validate"
)

func mustRender(t *testing.T, opts Options) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(opts)
	if err != nil {
		t.Fatalf("Render(%+v): %v", opts, err)
	}
	return objs
}

// convert decodes the one object of kind in objs into out.
func convert(t *testing.T, objs []*unstructured.Unstructured, kind, name string, out any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatalf("decode %s: %v", Describe(o), err)
			}
			return
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
}

func controller(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	convert(t, objs, "Deployment", Name, d)
	return d
}

// TestRenderOrder: CRDs, the Namespace, the identity and RBAC first, the
// Deployment last; every CRD package crd serves is in the base.
func TestRenderOrder(t *testing.T) {
	objs := mustRender(t, Options{})
	var kinds []string
	for _, o := range objs {
		if len(kinds) == 0 || kinds[len(kinds)-1] != o.GetKind() {
			kinds = append(kinds, o.GetKind())
		}
	}
	if !slices.Equal(kinds, applyOrder) {
		t.Errorf("kinds in order %q, want %q", kinds, applyOrder)
	}
	crds, err := crd.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, c := range crds {
		want = append(want, c.Name)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			got = append(got, o.GetName())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("CRDs %q, want every one of config/crd/bases %q: list it in config/crd/kustomization.yaml", got, want)
	}
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/part-of"] != "ferry" {
			t.Errorf("%s has no app.kubernetes.io/part-of: ferry", Describe(o))
		}
	}
}

// TestRenderOverrides: the namespace goes everywhere a namespace is
// (objects, the Namespace, both bindings' subjects, the controller's
// --home-namespace through the pod's namespace); the image and replicas
// replace the base's.
func TestRenderOverrides(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		namespace string
		image     string
		replicas  int32
	}{
		{"defaults", Options{}, "argocd", DefaultImage(), 1},
		{"all", Options{Namespace: "ferry-system", Image: "registry.example:5000/team/ferry:v1.2.3", Replicas: 3}, "ferry-system", "registry.example:5000/team/ferry:v1.2.3", 3},
		{"digest", Options{Image: "ferry@sha256:" + strings.Repeat("a", 64)}, "argocd", "ferry@sha256:" + strings.Repeat("a", 64), 1},
		{"tag and digest", Options{Image: "team/ferry:v1@sha256:" + strings.Repeat("b", 64)}, "argocd", "team/ferry:v1@sha256:" + strings.Repeat("b", 64), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := mustRender(t, tt.opts)
			if got := Namespace(objs); got != tt.namespace {
				t.Errorf("Namespace object %q, want %q", got, tt.namespace)
			}
			for _, o := range objs {
				switch o.GetKind() {
				case "CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding":
					if o.GetNamespace() != "" {
						t.Errorf("cluster-scoped %s has namespace %q", Describe(o), o.GetNamespace())
					}
				default:
					if o.GetNamespace() != tt.namespace {
						t.Errorf("%s: namespace %q, want %q", Describe(o), o.GetNamespace(), tt.namespace)
					}
				}
			}
			for _, b := range []struct{ kind, name string }{{"ClusterRoleBinding", "ferry-controller"}, {"ClusterRoleBinding", "ferry-deploy"}, {"RoleBinding", "ferry-controller"}} {
				var subjects []rbacv1.Subject
				if b.kind == "RoleBinding" {
					rb := &rbacv1.RoleBinding{}
					convert(t, objs, b.kind, b.name, rb)
					subjects = rb.Subjects
				} else {
					crb := &rbacv1.ClusterRoleBinding{}
					convert(t, objs, b.kind, b.name, crb)
					subjects = crb.Subjects
				}
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: tt.namespace}}
				if !slices.Equal(subjects, want) {
					t.Errorf("%s %s subjects %+v, want %+v", b.kind, b.name, subjects, want)
				}
			}
			d := controller(t, objs)
			c := d.Spec.Template.Spec.Containers[0]
			if c.Image != tt.image {
				t.Errorf("image %q, want %q", c.Image, tt.image)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != tt.replicas {
				t.Errorf("replicas %v, want %d", d.Spec.Replicas, tt.replicas)
			}
			if d.Spec.Template.Spec.ServiceAccountName != Name {
				t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
			}
			// The home namespace is the pod's: $(POD_NAMESPACE), which the
			// kubelet expands from the downward API.
			if !slices.Contains(c.Args, "--home-namespace=$(POD_NAMESPACE)") {
				t.Errorf("args %q lack --home-namespace=$(POD_NAMESPACE)", c.Args)
			}
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" })
			if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
				t.Errorf("POD_NAMESPACE is not the pod's metadata.namespace: %+v", c.Env)
			}
		})
	}
}

// TestRenderPodSecurity: the controller's pod meets Pod Security's
// restricted level, and writes only where an emptyDir is mounted.
func TestRenderPodSecurity(t *testing.T) {
	spec := controller(t, mustRender(t, Options{})).Spec.Template.Spec
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", sc)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Error("the pod shares a host namespace")
	}
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not true: the controller calls the API with it")
	}
	// emptyDirs where the process writes; ConfigMaps (the ssh host keys),
	// read only. Both are allowed at Pod Security's restricted level.
	emptyDirs, configMaps := map[string]bool{}, map[string]bool{}
	for _, v := range spec.Volumes {
		switch {
		case v.EmptyDir != nil:
			emptyDirs[v.Name] = true
		case v.ConfigMap != nil:
			configMaps[v.Name] = true
		default:
			t.Errorf("volume %s is neither an emptyDir nor a ConfigMap", v.Name)
		}
	}
	if len(spec.InitContainers) != 0 || len(spec.Containers) != 1 {
		t.Fatalf("%d init containers and %d containers, want one container", len(spec.InitContainers), len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		(sc.Privileged != nil && *sc.Privileged) || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
		t.Errorf("container securityContext %+v", sc)
	}
	for _, kind := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[kind]; !ok {
			t.Errorf("no %s request", kind)
		}
		if _, ok := c.Resources.Limits[kind]; !ok {
			t.Errorf("no %s limit", kind)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if !emptyDirs[m.Name] && !(configMaps[m.Name] && m.ReadOnly) {
			t.Errorf("mount %s is neither an emptyDir nor a read-only ConfigMap", m.MountPath)
		}
		mounts[m.MountPath] = m.Name
	}
	if mounts["/app/config/ssh"] == "" || !slices.Contains(c.Args, "--ssh-known-hosts-file=/app/config/ssh/ssh_known_hosts") {
		t.Errorf("the ssh host keys (argocd-ssh-known-hosts-cm) are not given to the controller: args %q", c.Args)
	}
	for _, dir := range []string{"/tmp", "/var/cache/ferry"} {
		if mounts[dir] == "" {
			t.Errorf("nothing writable mounted at %s", dir)
		}
	}
	if !slices.Contains(c.Args, "--cache-dir=/var/cache/ferry") {
		t.Errorf("args %q: the cache is not in the mounted volume", c.Args)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %+v: want an HTTP GET on the health port", p)
		}
	}
}

// TestRenderPassesValidate runs `ferry validate`'s checks (schemas,
// security rules) on the export, failing on warnings, with no rule
// suppressed by annotation.
func TestRenderPassesValidate(t *testing.T) {
	for _, opts := range []Options{{}, {Namespace: "ferry-system", Image: "registry.example/ferry:v1.2.3", Replicas: 2}} {
		data, err := Export(opts)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), validate.IgnoreAnnotationPrefix) {
			t.Errorf("the manifests suppress a rule (%s...)", validate.IgnoreAnnotationPrefix)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		report, err := validate.Run(t.Context(), validate.Options{Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		if n := report.Count(validate.SeverityError) + report.Count(validate.SeverityWarning); n > 0 {
			for _, f := range report.Findings {
				t.Logf("%s %s %s: %s", f.Severity, f.Rule, f.Object, f.Message)
			}
			t.Errorf("%+v: %d errors and warnings", opts, n)
		}
		if objs := mustRender(t, opts); report.Units[0].Objects != len(objs) {
			t.Errorf("validate saw %d objects, Render made %d", report.Units[0].Objects, len(objs))
		}
	}
}

func TestRenderRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Namespace: "Not_A_Name"}, `namespace "Not_A_Name"`},
		{Options{Image: "ferry:bad tag"}, `image "ferry:bad tag"`},
		{Options{Replicas: -1}, "replicas -1"},
	} {
		if _, err := Render(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%+v) = %v, want an error naming %s", tt.opts, err, tt.want)
		}
	}
}

func TestImageTags(t *testing.T) {
	for _, tt := range []struct {
		version, tag string
	}{
		{"v1.2.3", "v1.2.3"},
		{"v1.2.3-4-gabcdef0-dirty", "v1.2.3-4-gabcdef0-dirty"},
		{"abcdef0", "abcdef0"},
		{"(devel)", "dev"},
		{"", "dev"},
		{"v1.2.3+meta", "dev"},
	} {
		if got := versionTag(tt.version); got != tt.tag {
			t.Errorf("versionTag(%q) = %q, want %q", tt.version, got, tt.tag)
		}
	}
	for ref, want := range map[string]bool{
		"ferry:v1.2.3": true, "ferry:1.2.3-rc.1": true, "ferry@sha256:" + strings.Repeat("a", 64): true,
		"ferry:dev": false, "ferry:v1.2.3-4-gabcdef0": false, "registry.example:5000/ferry": false,
	} {
		if got := IsRelease(ref); got != want {
			t.Errorf("IsRelease(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestExportMatchesRender: --export prints what install applies.
func TestExportMatchesRender(t *testing.T) {
	opts := Options{Namespace: "ferry-system", Replicas: 2}
	data, err := Export(opts)
	if err != nil {
		t.Fatal(err)
	}
	objs := mustRender(t, opts)
	docs := strings.Split(string(data), "\n---\n")
	if len(docs) != len(objs) {
		t.Fatalf("%d documents, %d objects", len(docs), len(objs))
	}
	for i, doc := range docs {
		doc += "\n"
		if !strings.Contains(doc, "kind: "+objs[i].GetKind()+"\n") || !strings.Contains(doc, "name: "+objs[i].GetName()+"\n") {
			t.Errorf("document %d is not %s", i, Describe(objs[i]))
		}
	}
}

func TestSplitImage(t *testing.T) {
	for ref, want := range map[string][3]string{
		"ferry":                               {"ferry", "", ""},
		"ferry:v1":                            {"ferry", "v1", ""},
		"registry.example:5000/ferry":         {"registry.example:5000/ferry", "", ""},
		"registry.example:5000/t/ferry:v1":    {"registry.example:5000/t/ferry", "v1", ""},
		"ferry@sha256:abc":                    {"ferry", "", "sha256:abc"},
		"registry.example:5000/f:v1@sha256:a": {"registry.example:5000/f", "v1", "sha256:a"},
	} {
		repo, tag, digest := splitImage(ref)
		if got := [3]string{repo, tag, digest}; got != want {
			t.Errorf("splitImage(%q) = %q, want %q", ref, got, want)
		}
	}
}
