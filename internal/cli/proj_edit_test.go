package cli

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// projRoles are roles as kubectl writes them; Ferry does not model them, so
// every edit must leave them as they are.
const projRoles = `[{"description":"CI","name":"ci","policies":["p, proj:%s:ci, applications, sync, %s/*, allow"]}]`

func rolesOf(name string) string {
	return strings.ReplaceAll(projRoles, "%s", name)
}

// TestProjSourcesAndDestinations adds and removes source repositories
// (negated ones included), source namespaces and destinations (by server
// and by name): adding what is there is a no-op that says so, removing what
// is not is an error naming the project and the entry, and roles survive.
func TestProjSourcesAndDestinations(t *testing.T) {
	const p = "proj-src-dest"
	createRawProject(t, `{"metadata":{"name":"`+p+`"},"spec":{"roles":`+rolesOf(p)+`}}`)

	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"add-source", p, "https://github.com/myorg/team-a.git"}, "Source repository 'https://github.com/myorg/team-a.git' allowed in project " + p},
		{[]string{"add-source", p, "https://GitHub.com/myorg/team-a"}, "Source repository 'https://github.com/myorg/team-a.git' already in project " + p},
		{[]string{"add-source", p, "*"}, "Source repository '*' allowed in project " + p},
		{[]string{"add-source", p, "https://github.com/myorg/other.git"}, "Source repository '*' already allowed in project " + p},
		{[]string{"add-source", p, "!https://github.com/myorg/secrets.git"}, "Source repository 'https://github.com/myorg/secrets.git' denied in project " + p},
		{[]string{"add-source-namespace", p, "team-a-apps"}, "Source namespace 'team-a-apps' added to project " + p},
		{[]string{"add-source-namespace", p, "team-a-apps"}, "Source namespace 'team-a-apps' already allowed in project " + p},
		{[]string{"add-destination", p, "https://kubernetes.default.svc", "team-a"}, "Destination https://kubernetes.default.svc, team-a added to project " + p},
		{[]string{"add-destination", p, "https://kubernetes.default.svc/", "team-a"}, "Destination https://kubernetes.default.svc/, team-a already in project " + p},
		{[]string{"add-destination", p, "prod-us-east", "team-a-*", "--name"}, "Destination named prod-us-east, team-a-* added to project " + p},
	} {
		if out := mustProj(t, step.args...); out != step.out+"\n" {
			t.Errorf("ferry proj %s: output %q, want %q", strings.Join(step.args, " "), out, step.out)
		}
	}
	checkSpec(t, p, map[string]string{
		"sourceRepos":      `["https://github.com/myorg/team-a.git","*","!https://github.com/myorg/secrets.git"]`,
		"sourceNamespaces": `["team-a-apps"]`,
		"destinations":     `[{"namespace":"team-a","server":"https://kubernetes.default.svc"},{"name":"prod-us-east","namespace":"team-a-*"}]`,
		"roles":            rolesOf(p),
	})

	projErr(t, p, []string{"add-source", p, "https://github.com/myorg/secrets.git"},
		"project "+p+" denies source repository https://github.com/myorg/secrets.git", "remove-source "+p+" '!https://github.com/myorg/secrets.git'")
	projErr(t, p, []string{"add-source", p, "!*"}, "project "+p+": source repository \"!*\" is invalid")
	projErr(t, p, []string{"remove-source", p, "https://github.com/myorg/secrets.git"}, "project "+p+" has no source repository https://github.com/myorg/secrets.git")
	projErr(t, p, []string{"remove-destination", p, "prod-us-east", "team-a-*"}, "project "+p+" has no destination prod-us-east, team-a-*", "add --name")
	projErr(t, p, []string{"remove-destination", p, "https://kubernetes.default.svc", "team-b"}, "project "+p+" has no destination https://kubernetes.default.svc, team-b")
	projErr(t, p, []string{"remove-source-namespace", p, "team-b-apps"}, "project "+p+" has no source namespace team-b-apps")
	projErr(t, "", []string{"add-source", "proj-none", "*"}, `project "proj-none" not found in namespace argocd`)

	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"remove-source", p, "!https://github.com/myorg/secrets.git"}, "Source repository '!https://github.com/myorg/secrets.git' removed from project " + p},
		{[]string{"remove-source", p, "*"}, "Source repository '*' removed from project " + p},
		{[]string{"remove-source", p, "https://github.com/myorg/team-a"}, "Source repository 'https://github.com/myorg/team-a.git' removed from project " + p},
		{[]string{"remove-source-namespace", p, "team-a-apps"}, "Source namespace 'team-a-apps' removed from project " + p},
		{[]string{"remove-destination", p, "prod-us-east", "team-a-*", "--name"}, "Destination named prod-us-east, team-a-* removed from project " + p},
	} {
		if out := mustProj(t, step.args...); out != step.out+"\n" {
			t.Errorf("ferry proj %s: output %q, want %q", strings.Join(step.args, " "), out, step.out)
		}
	}
	checkSpec(t, p, map[string]string{
		"sourceRepos":      "<absent>",
		"sourceNamespaces": "<absent>",
		"destinations":     `[{"namespace":"team-a","server":"https://kubernetes.default.svc"}]`,
		"roles":            rolesOf(p),
	})
}

// TestProjResourceLists runs the four resource verbs on both lists each:
// which list each edits (as Argo CD), the optional NAME of cluster-scoped
// items, an empty namespaceResourceWhitelist kept empty (it allows no
// kind) and an absent one refused for removal (it allows every kind), and
// roles left as they were.
func TestProjResourceLists(t *testing.T) {
	const p = "proj-resources"
	createRawProject(t, `{"metadata":{"name":"`+p+`"},"spec":{"roles":`+rolesOf(p)+`,
		"clusterResourceBlacklist":[{"group":"","kind":"Namespace","x-unmodelled":"kept"}]}}`)

	projErr(t, p, []string{"deny-namespace-resource", p, "", "Secret", "-l", "allow"},
		"project "+p+" has no namespaceResourceWhitelist, so every namespaced kind, /Secret included, is allowed", "ferry proj deny-namespace-resource "+p+" '' Secret")
	projErr(t, p, []string{"allow-cluster-resource", p, "", "Namespace", "-l", "grey"}, `-l "grey": want allow (white) or deny (black)`)

	for _, step := range []struct {
		args []string
		out  string
	}{
		// Cluster-scoped: the allow list by default.
		{[]string{"allow-cluster-resource", p, "rbac.authorization.k8s.io", "ClusterRole", "team-a-*"},
			"Group 'rbac.authorization.k8s.io', kind 'ClusterRole' and name 'team-a-*' added to the allowed cluster resources (spec.clusterResourceWhitelist) of project " + p},
		{[]string{"allow-cluster-resource", p, "rbac.authorization.k8s.io", "ClusterRole", "team-a-*"},
			"Group 'rbac.authorization.k8s.io', kind 'ClusterRole' and name 'team-a-*' already in the allowed cluster resources (spec.clusterResourceWhitelist) of project " + p},
		{[]string{"allow-cluster-resource", p, "", "PersistentVolume"},
			"Group '', kind 'PersistentVolume' and name '' added to the allowed cluster resources (spec.clusterResourceWhitelist) of project " + p},
		{[]string{"deny-cluster-resource", p, "", "PersistentVolume"},
			"Group '', kind 'PersistentVolume' and name '' removed from the allowed cluster resources (spec.clusterResourceWhitelist) of project " + p},
		{[]string{"deny-cluster-resource", p, "apiextensions.k8s.io", "CustomResourceDefinition", "-l", "black"},
			"Group 'apiextensions.k8s.io', kind 'CustomResourceDefinition' and name '' added to the denied cluster resources (spec.clusterResourceBlacklist) of project " + p},
		{[]string{"allow-cluster-resource", p, "apiextensions.k8s.io", "CustomResourceDefinition", "-l", "deny"},
			"Group 'apiextensions.k8s.io', kind 'CustomResourceDefinition' and name '' removed from the denied cluster resources (spec.clusterResourceBlacklist) of project " + p},
		{[]string{"allow-cluster-resource", p, "", "StorageClass", "-l", "deny"},
			"Group '', kind 'StorageClass' and name '' not in the denied cluster resources (spec.clusterResourceBlacklist) of project " + p + ": nothing to remove"},
		// Namespaced: the deny list by default.
		{[]string{"deny-namespace-resource", p, "", "ResourceQuota"},
			"Group '' and kind 'ResourceQuota' added to the denied namespaced resources (spec.namespaceResourceBlacklist) of project " + p},
		{[]string{"deny-namespace-resource", p, "", "LimitRange", "-l", "deny"},
			"Group '' and kind 'LimitRange' added to the denied namespaced resources (spec.namespaceResourceBlacklist) of project " + p},
		{[]string{"allow-namespace-resource", p, "", "LimitRange"},
			"Group '' and kind 'LimitRange' removed from the denied namespaced resources (spec.namespaceResourceBlacklist) of project " + p},
		{[]string{"allow-namespace-resource", p, "apps", "Deployment", "-l", "white"},
			"Group 'apps' and kind 'Deployment' added to the allowed namespaced resources (spec.namespaceResourceWhitelist) of project " + p +
				"; the project had no namespaceResourceWhitelist (every namespaced kind allowed), now only the listed kinds are allowed"},
	} {
		if out := mustProj(t, step.args...); out != step.out+"\n" {
			t.Errorf("ferry proj %s:\n output %q\n want   %q", strings.Join(step.args, " "), out, step.out)
		}
	}
	checkSpec(t, p, map[string]string{
		"clusterResourceWhitelist":   `[{"group":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"team-a-*"}]`,
		"clusterResourceBlacklist":   `[{"group":"","kind":"Namespace","x-unmodelled":"kept"}]`,
		"namespaceResourceBlacklist": `[{"group":"","kind":"ResourceQuota"}]`,
		"namespaceResourceWhitelist": `[{"group":"apps","kind":"Deployment"}]`,
		"roles":                      rolesOf(p),
	})

	out := mustProj(t, "deny-namespace-resource", p, "apps", "Deployment", "-l", "allow")
	if want := "Group 'apps' and kind 'Deployment' removed from the allowed namespaced resources (spec.namespaceResourceWhitelist) of project " + p +
		"; the list is now empty: no namespaced kind is allowed\n"; out != want {
		t.Errorf("deny-namespace-resource of the last allowed kind:\n output %q\n want   %q", out, want)
	}
	mustProj(t, "deny-namespace-resource", p, "", "ResourceQuota", "-l", "black")
	mustProj(t, "add-source", p, "https://github.com/myorg/team-a.git") // an edit of another field
	checkSpec(t, p, map[string]string{
		"namespaceResourceWhitelist": `[]`,
		"namespaceResourceBlacklist": `[{"group":"","kind":"ResourceQuota"}]`,
		"roles":                      rolesOf(p),
	})
	if out := oneLine(mustProj(t, "get", p)); !strings.Contains(out, "Allowed Namespaced Resources: <none>") {
		t.Errorf("proj get after emptying the namespaced allow list, want <none>:\n%s", out)
	}
	mustProj(t, "allow-cluster-resource", p, "", "Namespace", "-l", "deny")
	checkSpec(t, p, map[string]string{"clusterResourceBlacklist": "<absent>", "roles": rolesOf(p)})
}

// TestProjEditRetriesOnConflict edits a project while someone else changes
// it between the read and the write: the write carries the resourceVersion
// read, is refused, and the edit is made again on the new version, so
// neither change is lost.
func TestProjEditRetriesOnConflict(t *testing.T) {
	const p = "proj-conflict"
	createRawProject(t, `{"metadata":{"name":"`+p+`"},"spec":{"sourceRepos":["https://github.com/myorg/a.git"]}}`)
	patches := 0
	c := interceptor.NewClient(env.Client, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			patches++
			if patches == 1 {
				// Someone else's edit, made after our read.
				other := newProjectObject()
				other.SetNamespace("argocd")
				other.SetName(p)
				concurrent := client.RawPatch(patch.Type(), []byte(`{"spec":{"description":"edited meanwhile","sourceRepos":["https://github.com/myorg/a.git","https://github.com/myorg/b.git"]}}`))
				if err := c.Patch(ctx, other, concurrent); err != nil {
					return err
				}
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
	o := &kubeOptions{namespace: "argocd"}
	msg, err := o.editList(t.Context(), c, p, fieldSourceRepos, addSource(p, "https://github.com/myorg/c.git"))
	if err != nil {
		t.Fatal(err)
	}
	if patches != 2 || msg != "Source repository 'https://github.com/myorg/c.git' allowed in project "+p {
		t.Errorf("patches = %d, message %q; want 2 (one refused) and the addition", patches, msg)
	}
	checkSpec(t, p, map[string]string{
		"sourceRepos": `["https://github.com/myorg/a.git","https://github.com/myorg/b.git","https://github.com/myorg/c.git"]`,
		"description": `"edited meanwhile"`,
	})
}
