package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// newProject creates an AppProject in the home namespace, removed when the
// test ends.
func newProject(t *testing.T, name string, spec v1alpha1.AppProjectSpec) *v1alpha1.AppProject {
	t.Helper()
	p := &v1alpha1.AppProject{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd"}, Spec: spec}
	if err := env.Client.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	return p
}

// openProject allows everything in the namespaces given, as a team's
// project would; rows narrow one field of it.
func openProject(repo *gitRepo, namespaces ...string) v1alpha1.AppProjectSpec {
	spec := v1alpha1.AppProjectSpec{
		SourceRepos:              []string{repo.url()},
		ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
	}
	for _, ns := range namespaces {
		spec.Destinations = append(spec.Destinations, v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: ns})
	}
	return spec
}

func clusterRoleBinding(name string) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
`, name)
}

func secretYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s}\nstringData: {k: v}\n", name)
}

func hookJob(name, namespace string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  namespace: %s
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`, name, namespace)
}

func namespaceYAML(name, wave string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  annotations: {argocd.argoproj.io/sync-wave: %q}\n", name, wave)
}

func configMapIn(name, namespace, wave string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n  annotations: {argocd.argoproj.io/sync-wave: %q}\ndata: {value: \"1\"}\n", name, namespace, wave)
}

// refusedWith is true once the Application reports a refusal naming the
// rule and the project, in a condition.
func refusedWith(rule, project string) func(*v1alpha1.Application) bool {
	return func(a *v1alpha1.Application) bool {
		for _, c := range a.Status.Conditions {
			if (c.Type == v1alpha1.ApplicationConditionInvalidSpecError || c.Type == v1alpha1.ApplicationConditionSyncError) &&
				strings.Contains(c.Message, "("+rule+")") && strings.Contains(c.Message, `"`+project+`"`) {
				return true
			}
		}
		return false
	}
}

func absent(ctx context.Context, t *testing.T, apiVersion, kind, namespace, name string) bool {
	t.Helper()
	return live(ctx, t, apiVersion, kind, namespace, name) == nil
}

// TestProjectRefusals is the matrix of a project's refusals: each row is an
// Application its project must refuse, with nothing applied and a
// condition naming the rule and the project, next to the same Application
// in a project that allows it, which must sync (so the test fails if
// enforcement refused everything).
func TestProjectRefusals(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{
		"plain/cm.yaml":        configMap("plain", "1"),
		"crb/cm.yaml":          configMap("crb-cm", "1"),
		"crb/crb.yaml":         clusterRoleBinding("ferry-proj-crb"),
		"secret/cm.yaml":       configMap("secret-cm", "1"),
		"secret/secret.yaml":   secretYAML("secret-s"),
		"hook/cm.yaml":         configMap("hook-cm", "1"),
		"hook/job.yaml":        hookJob("escape", "proj-victim"),
		"nswave/ns.yaml":       namespaceYAML("proj-forbidden", "0"),
		"nswave/cm.yaml":       configMapIn("nswave-cm", "proj-forbidden", "1"),
		"nswave/local.yaml":    configMap("nswave-local", "1"),
		"hookok/cm.yaml":       configMap("hookok-cm", "1"),
		"hookok/job.yaml":      hookJob("inside", "proj-hookok"),
		"nsok/ns.yaml":         namespaceYAML("proj-nsok-extra", "0"),
		"nsok/cm.yaml":         configMapIn("nsok-cm", "proj-nsok-extra", "1"),
		"nsok/local.yaml":      configMap("nsok-local", "1"),
		"unlisted/cm.yaml":     configMap("unlisted", "1"),
		"otherns/cm.yaml":      configMap("otherns", "1"),
		"disallowed/cm.yaml":   configMap("disallowed", "1"),
		"crbok/crb.yaml":       clusterRoleBinding("ferry-proj-crb-ok"),
		"secretok/secret.yaml": secretYAML("secret-ok"),
	})
	repo.commit("matrix")
	auto := &v1alpha1.SyncPolicyAutomated{Prune: true}

	noSecrets := openProject(repo, "proj-secret")
	noSecrets.NamespaceResourceBlacklist = []v1alpha1.GroupKind{{Group: "", Kind: "Secret"}}
	noCluster := openProject(repo, "proj-crb")
	noCluster.ClusterResourceWhitelist = nil
	otherServer := openProject(repo)
	otherServer.Destinations = []v1alpha1.ApplicationDestination{{Server: "https://elsewhere.example", Namespace: "*"}}
	projects := map[string]v1alpha1.AppProjectSpec{
		"p-repo":      {SourceRepos: []string{"https://example.com/other/*"}, Destinations: []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}}},
		"p-dest":      openProject(repo, "proj-allowed"),
		"p-cluster":   otherServer,
		"p-crb":       noCluster,
		"p-secret":    noSecrets,
		"p-hook":      openProject(repo, "proj-hook"),
		"p-nswave":    openProject(repo, "proj-nswave"),
		"p-open":      openProject(repo, "proj-*"),
		"p-srcns-not": openProject(repo, "*"),
	}
	for name, spec := range projects {
		newProject(t, name, spec)
	}
	type row struct {
		name, project, path, namespace string
		rule                           string // "" for an allowed row
		notApplied                     [][4]string
		applied                        [][4]string
	}
	cm := func(ns, name string) [4]string { return [4]string{"v1", "ConfigMap", ns, name} }
	rows := []row{
		{name: "repo-refused", project: "p-repo", path: "plain", namespace: "proj-repo", rule: "sourceRepos",
			notApplied: [][4]string{cm("proj-repo", "plain")}},
		{name: "dest-ns-refused", project: "p-dest", path: "otherns", namespace: "proj-other", rule: "destinations",
			notApplied: [][4]string{cm("proj-other", "otherns")}},
		{name: "cluster-refused", project: "p-cluster", path: "disallowed", namespace: "proj-disallowed", rule: "destinations",
			notApplied: [][4]string{cm("proj-disallowed", "disallowed")}},
		{name: "crb-refused", project: "p-crb", path: "crb", namespace: "proj-crb", rule: "clusterResourceWhitelist",
			notApplied: [][4]string{cm("proj-crb", "crb-cm"), {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ferry-proj-crb"}}},
		{name: "secret-refused", project: "p-secret", path: "secret", namespace: "proj-secret", rule: "namespaceResourceBlacklist",
			notApplied: [][4]string{cm("proj-secret", "secret-cm"), {"v1", "Secret", "proj-secret", "secret-s"}}},
		{name: "hook-refused", project: "p-hook", path: "hook", namespace: "proj-hook", rule: "destinations",
			notApplied: [][4]string{cm("proj-hook", "hook-cm"), {"batch/v1", "Job", "proj-victim", "escape"}}},
		{name: "nswave-refused", project: "p-nswave", path: "nswave", namespace: "proj-nswave", rule: "destinations",
			notApplied: [][4]string{cm("proj-nswave", "nswave-local"), {"v1", "Namespace", "", "proj-forbidden"}, cm("proj-forbidden", "nswave-cm")}},
		// The same shapes, allowed.
		{name: "repo-ok", project: "p-open", path: "plain", namespace: "proj-plain", applied: [][4]string{cm("proj-plain", "plain")}},
		{name: "crb-ok", project: "p-open", path: "crbok", namespace: "proj-crbok",
			applied: [][4]string{{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ferry-proj-crb-ok"}}},
		{name: "secret-ok", project: "p-open", path: "secretok", namespace: "proj-secretok", applied: [][4]string{{"v1", "Secret", "proj-secretok", "secret-ok"}}},
		{name: "hook-ok", project: "p-open", path: "hookok", namespace: "proj-hookok", applied: [][4]string{cm("proj-hookok", "hookok-cm")}},
		{name: "nswave-ok", project: "p-open", path: "nsok", namespace: "proj-nsok",
			applied: [][4]string{{"v1", "Namespace", "", "proj-nsok-extra"}, cm("proj-nsok-extra", "nsok-cm"), cm("proj-nsok", "nsok-local")}},
	}
	apps := map[string]*v1alpha1.Application{}
	for _, r := range rows {
		app := newApp(r.name, r.namespace, repo, r.path, auto)
		app.Spec.Project = r.project
		create(t, app)
		apps[r.name] = app
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			app := apps[r.name]
			if r.rule == "" {
				waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })
				for _, o := range r.applied {
					if absent(ctx, t, o[0], o[1], o[2], o[3]) {
						t.Errorf("%s %s/%s not applied by an allowed sync", o[1], o[2], o[3])
					}
				}
				return
			}
			got := waitApp(t, app, "refused by "+r.rule, refusedWith(r.rule, r.project))
			for _, o := range r.notApplied {
				if !absent(ctx, t, o[0], o[1], o[2], o[3]) {
					t.Errorf("%s %s/%s applied although the project refuses the Application: %s", o[1], o[2], o[3], describeApp(got))
				}
			}
			if len(got.Status.History) != 0 {
				t.Errorf("a refused Application has sync history: %+v", got.Status.History)
			}
		})
	}
}

// TestProjectRefusesGeneratedApplication: an ApplicationSet's Application
// gets no more than its project allows.
func TestProjectRefusesGeneratedApplication(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"gen/cm.yaml": configMap("generated", "1")})
	repo.commit("gen")
	newProject(t, "p-appset", openProject(repo, "proj-appset-allowed"))
	manifest := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: proj-gen, namespace: argocd}
spec:
  generators:
  - list:
      elements:
      - ns: proj-appset-allowed
      - ns: proj-appset-refused
  template:
    metadata: {name: 'gen-{{ns}}'}
    spec:
      project: p-appset
      source: {repoURL: %q, targetRevision: main, path: gen}
      destination: {server: https://kubernetes.default.svc, namespace: '{{ns}}'}
      syncPolicy:
        automated: {}
        syncOptions: [CreateNamespace=true]
`, repo.url())
	// The same ApplicationSet in a namespace the controller does not serve,
	// created first: it must generate nothing.
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unserved-appsets"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	unserved := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.Replace(manifest, "namespace: argocd", "namespace: unserved-appsets", 1)), &unserved.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, unserved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), unserved) })
	set := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &set.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteCascading(t, set) })
	allowed := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "gen-proj-appset-allowed", Namespace: "argocd"}}
	refusedApp := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "gen-proj-appset-refused", Namespace: "argocd"}}
	waitApp(t, allowed, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })
	got := waitApp(t, refusedApp, "refused by destinations", refusedWith("destinations", "p-appset"))
	if !absent(ctx, t, "v1", "ConfigMap", "proj-appset-refused", "generated") {
		t.Errorf("the generated Application applied into a refused namespace: %s", describeApp(got))
	}
	if !absent(ctx, t, "v1", "Namespace", "", "proj-appset-refused") {
		t.Errorf("CreateNamespace created a namespace the project refuses")
	}
	generated := &v1alpha1.ApplicationList{}
	if err := env.Client.List(ctx, generated, client.InNamespace("unserved-appsets")); err != nil {
		t.Fatal(err)
	}
	if len(generated.Items) != 0 {
		t.Errorf("an ApplicationSet in an unserved namespace generated %d Applications", len(generated.Items))
	}
}

// TestApplicationNamespaces: an Application outside the served namespaces is
// ignored with an event; one in a served namespace whose project does not
// list the namespace is refused; one both allow syncs.
func TestApplicationNamespaces(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/cm.yaml": configMap("nsapp", "1")})
	repo.commit("one")
	withNS := openProject(repo, "proj-nsapp-*")
	withNS.SourceNamespaces = []string{"apps-team-a"}
	newProject(t, "p-srcns", withNS)
	for _, ns := range []string{"apps-team-a", "apps-team-b", "unserved-team"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	mk := func(appNS, dest string) *v1alpha1.Application {
		app := newApp("nsapp", dest, repo, "cms", &v1alpha1.SyncPolicyAutomated{})
		app.Namespace = appNS
		app.Spec.Project = "p-srcns"
		return app
	}
	ok, notInProject, unserved := mk("apps-team-a", "proj-nsapp-a"), mk("apps-team-b", "proj-nsapp-b"), mk("unserved-team", "proj-nsapp-c")
	create(t, ok)
	create(t, notInProject)
	// No controller serves unserved-team, so nothing would run a finalizer:
	// a plain create and delete.
	if err := env.Client.Create(ctx, unserved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), unserved) })

	waitApp(t, ok, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })
	if absent(ctx, t, "v1", "ConfigMap", "proj-nsapp-a", "nsapp") {
		t.Error("the allowed Application in apps-team-a applied nothing")
	}
	waitApp(t, notInProject, "refused by sourceNamespaces", refusedWith("sourceNamespaces", "p-srcns"))
	eventually(t, 30*time.Second, "a NamespaceNotServed event", func(ctx context.Context) (bool, string) {
		events := &corev1.EventList{}
		if err := env.Client.List(ctx, events, client.InNamespace("unserved-team")); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, e := range events.Items {
			if e.Reason == "NamespaceNotServed" && e.InvolvedObject.Name == "nsapp" {
				n++
			}
		}
		return n == 1, fmt.Sprintf("%d NamespaceNotServed events", n)
	})
	got := getApp(ctx, t, unserved)
	if got.Status.Sync.Status != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("an unserved Application got a status: %s", describeApp(got))
	}
	for _, ns := range []string{"proj-nsapp-b", "proj-nsapp-c"} {
		if !absent(ctx, t, "v1", "ConfigMap", ns, "nsapp") {
			t.Errorf("ConfigMap applied into %s", ns)
		}
	}
}

// TestProjectKeepsPruneOfDeniedKind: an object the project does not let the
// Application create is not deleted by its prune either; it stays, and is
// reported.
func TestProjectKeepsPruneOfDeniedKind(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"app/cm.yaml": configMap("keep-cm", "1"), "app/secret.yaml": secretYAML("keep-secret")})
	repo.commit("both")
	p := newProject(t, "p-prune", openProject(repo, "proj-prune"))
	app := newApp("proj-prune", "proj-prune", repo, "app", &v1alpha1.SyncPolicyAutomated{Prune: true})
	app.Spec.Project = p.Name
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"namespaceResourceBlacklist":[{"group":"","kind":"Secret"}]}}`))
	if err := env.Client.Patch(ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	repo.git("rm", "-q", "app/secret.yaml")
	head := repo.commit("drop the secret")
	got := waitApp(t, app, "the Secret kept and reported", func(a *v1alpha1.Application) bool {
		if a.Status.OperationState == nil || a.Status.OperationState.SyncResult == nil || a.Status.OperationState.SyncResult.Revision != head {
			return false
		}
		for _, r := range a.Status.OperationState.SyncResult.Resources {
			if r.Kind == "Secret" && r.Name == "keep-secret" && strings.Contains(r.Message, "namespaceResourceBlacklist") {
				return true
			}
		}
		return false
	})
	if absent(ctx, t, "v1", "Secret", "proj-prune", "keep-secret") {
		t.Errorf("the Secret was pruned although the project denies its kind: %s", describeApp(got))
	}
	reported := false
	for _, r := range got.Status.Resources {
		reported = reported || (r.Kind == "Secret" && r.Name == "keep-secret" && r.RequiresPruning)
	}
	if !reported {
		t.Errorf("the kept Secret is not reported as requiring pruning: %s", describeApp(got))
	}

	// Cascading deletion prunes too: the ConfigMap goes, the Secret stays.
	deleteCascading(t, app)
	if !absent(ctx, t, "v1", "ConfigMap", "proj-prune", "keep-cm") {
		t.Error("cascading deletion left the ConfigMap")
	}
	if absent(ctx, t, "v1", "Secret", "proj-prune", "keep-secret") {
		t.Error("cascading deletion deleted a Secret the project denies")
	}
}

// TestProjectScopedRepositorySecret: a repository Secret scoped to a
// project serves that project's Applications alone; another project's
// Application with the same repoURL reads the repository without
// credentials (and is refused by the server), even after the first project
// has fetched it.
func TestProjectScopedRepositorySecret(t *testing.T) {
	ctx := t.Context()
	const password = "scoped-ferry-token"
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("scoped", "private")})
	head := repo.commit("private")
	url := serveHTTP(t, repo, "deploy", password)
	all := v1alpha1.AppProjectSpec{SourceRepos: []string{"*"}, Destinations: []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}}}
	newProject(t, "p-scoped-a", all)
	newProject(t, "p-scoped-b", all)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "scoped-repo", Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": url, "username": "deploy", "password": password, "project": "p-scoped-a"},
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), secret) })

	a := newApp("scoped-a", "proj-scoped-a", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	a.Spec.Source.RepoURL, a.Spec.Project = url, "p-scoped-a"
	create(t, a)
	waitApp(t, a, "Synced with the project's Secret", syncedAt(head))

	b := newApp("scoped-b", "proj-scoped-b", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	b.Spec.Source.RepoURL, b.Spec.Project = url, "p-scoped-b"
	create(t, b)
	got := waitApp(t, b, "ComparisonError: no credentials for another project", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "authentication")
	})
	if got.Status.Sync.Revision != "" || !absent(ctx, t, "v1", "ConfigMap", "proj-scoped-b", "scoped") {
		t.Errorf("another project's Application read the repository: %s", describeApp(got))
	}
}

// TestDestinationServiceAccount: a project's destinationServiceAccounts
// make the sync run as that ServiceAccount, so Kubernetes RBAC decides:
// without create on ConfigMaps the sync fails with the API server's own
// Forbidden message; once the verb is granted, the retry succeeds.
func TestDestinationServiceAccount(t *testing.T) {
	ctx := t.Context()
	const ns = "proj-sa-target"
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/cm.yaml": configMap("as-sa", "1")})
	head := repo.commit("one")
	spec := openProject(repo, "proj-sa-*")
	spec.DestinationServiceAccounts = []v1alpha1.ApplicationDestinationServiceAccount{
		{Server: "https://kubernetes.default.svc", Namespace: "proj-sa-*", DefaultServiceAccount: "deployer"}}
	newProject(t, "p-sa", spec)

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "patch", "update"}}}}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns}},
		role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	factor := int64(1)
	app := newApp("proj-sa", ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.Project = "p-sa"
	app.Spec.SyncPolicy.SyncOptions = nil // the account may not create namespaces
	app.Spec.SyncPolicy.Retry = &v1alpha1.RetryStrategy{Limit: 100, Backoff: &v1alpha1.Backoff{Duration: "1s", Factor: &factor, MaxDuration: "1s"}}
	create(t, app)
	got := waitApp(t, app, "a sync refused by RBAC", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return st != nil && st.Phase == v1alpha1.OperationFailed && strings.Contains(st.Message, "forbidden") &&
			strings.Contains(st.Message, "system:serviceaccount:"+ns+":deployer")
	})
	if !absent(ctx, t, "v1", "ConfigMap", ns, "as-sa") {
		t.Errorf("the ConfigMap was created without the account's create verb: %s", describeApp(got))
	}

	role.Rules[0].Verbs = append(role.Rules[0].Verbs, "create")
	if err := env.Client.Update(ctx, role); err != nil {
		t.Fatal(err)
	}
	waitApp(t, app, "Synced once create is granted", syncedAt(head))
	if absent(ctx, t, "v1", "ConfigMap", ns, "as-sa") {
		t.Error("Synced, but the ConfigMap does not exist")
	}
}

func windowsProject(repo *gitRepo, ns string, windows ...*v1alpha1.SyncWindow) v1alpha1.AppProjectSpec {
	spec := openProject(repo, ns)
	spec.SyncWindows = windows
	return spec
}

func blockedBy(window string) func(*v1alpha1.Application) bool {
	return func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionSyncWindowBlocked, window) &&
			hasCondition(a, v1alpha1.ApplicationConditionSyncWindowBlocked, "until")
	}
}

// TestSyncWindows: a deny window active now blocks an automated sync (the
// condition says which window and until when); with manualSync a requested
// sync goes through it; an allow window outside its schedule blocks.
func TestSyncWindows(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/cm.yaml": configMap("windowed", "1")})
	head := repo.commit("one")
	always := "* * * * *" // fires every minute: with 1h, active at any time
	newProject(t, "p-win-deny", windowsProject(repo, "proj-win-deny",
		&v1alpha1.SyncWindow{Kind: "deny", Schedule: always, Duration: "1h", Applications: []string{"*"}}))
	newProject(t, "p-win-manual", windowsProject(repo, "proj-win-manual",
		&v1alpha1.SyncWindow{Kind: "deny", Schedule: always, Duration: "1h", Applications: []string{"*"}, ManualSync: true}))
	newProject(t, "p-win-allow", windowsProject(repo, "proj-win-allow",
		&v1alpha1.SyncWindow{Kind: "allow", Schedule: "0 0 1 1 *", Duration: "1m", Namespaces: []string{"proj-win-*"}}))

	apps := map[string]*v1alpha1.Application{}
	for _, p := range []string{"deny", "manual", "allow"} {
		app := newApp("win-"+p, "proj-win-"+p, repo, "cms", &v1alpha1.SyncPolicyAutomated{})
		app.Spec.Project = "p-win-" + p
		create(t, app)
		apps[p] = app
	}
	waitApp(t, apps["deny"], "blocked by the deny window", blockedBy(`deny window "* * * * *"`))
	waitApp(t, apps["allow"], "blocked outside the allow window", blockedBy(`allow window "0 0 1 1 *"`))
	waitApp(t, apps["manual"], "automated sync blocked by the manualSync deny window", blockedBy(`deny window "* * * * *"`))
	for _, ns := range []string{"proj-win-deny", "proj-win-allow", "proj-win-manual"} {
		if !absent(ctx, t, "v1", "ConfigMap", ns, "windowed") {
			t.Errorf("synced into %s through a window that blocks", ns)
		}
	}

	// What ferry app sync writes: a requested operation, which manualSync
	// lets through.
	op := client.RawPatch("application/merge-patch+json", []byte(`{"operation":{"sync":{"revision":"main"},"initiatedBy":{"username":"test"}}}`))
	for _, p := range []string{"manual", "deny"} {
		if err := env.Client.Patch(ctx, apps[p], op); err != nil {
			t.Fatal(err)
		}
	}
	waitApp(t, apps["manual"], "a requested sync through a manualSync window", syncedAt(head))
	if absent(ctx, t, "v1", "ConfigMap", "proj-win-manual", "windowed") {
		t.Error("the requested sync reported Synced but applied nothing")
	}
	got := waitApp(t, apps["deny"], "a requested sync still blocked without manualSync", blockedBy(`deny window "* * * * *"`))
	if got.Operation == nil || !absent(ctx, t, "v1", "ConfigMap", "proj-win-deny", "windowed") {
		t.Errorf("a deny window without manualSync let a requested sync run (or dropped it): %s", describeApp(got))
	}
}

// TestOrphanedResourcesWarning: with orphanedResources.warn, an object in
// the destination namespace that no Application tracks is reported in an
// OrphanedResourceWarning condition; what the project ignores, what
// Kubernetes puts in every namespace and the Application's own objects are
// not; removing the stray object clears the warning.
func TestOrphanedResourcesWarning(t *testing.T) {
	ctx := t.Context()
	const ns = "proj-orphans"
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/cm.yaml": configMap("managed", "1")})
	repo.commit("one")
	warn := true
	spec := openProject(repo, ns)
	spec.OrphanedResources = &v1alpha1.OrphanedResourcesMonitorSettings{Warn: &warn, Ignore: []v1alpha1.OrphanedResourceKey{{Kind: "Secret"}}}
	newProject(t, "p-orphans", spec)
	app := newApp("orphans", ns, repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.Project = "p-orphans"
	create(t, app)
	waitApp(t, app, "Synced", func(a *v1alpha1.Application) bool { return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced })

	stray := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns}}
	ignoredSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: ns}}
	for _, obj := range []client.Object{stray, ignoredSecret} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	got := waitApp(t, app, "an OrphanedResourceWarning naming the stray ConfigMap", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionOrphanedResourceWarning, "ConfigMap stray")
	})
	for _, c := range got.Status.Conditions {
		if c.Type != v1alpha1.ApplicationConditionOrphanedResourceWarning {
			continue
		}
		if !strings.Contains(c.Message, "has 1 orphaned resources") {
			t.Errorf("orphans other than the stray ConfigMap reported: %q", c.Message)
		}
	}
	if err := env.Client.Delete(ctx, stray); err != nil {
		t.Fatal(err)
	}
	waitApp(t, app, "the warning cleared", func(a *v1alpha1.Application) bool {
		return !hasCondition(a, v1alpha1.ApplicationConditionOrphanedResourceWarning, "")
	})
}
