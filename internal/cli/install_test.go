package cli

import (
	"strings"
	"testing"
)

// TestInstallExportNeedsNoCluster: a new user, with no kubeconfig at all,
// gets the manifests with the flags applied, and the warning about an
// image no release has goes to stderr, not into the YAML.
func TestInstallExportNeedsNoCluster(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	var stdout, stderr strings.Builder
	cmd := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
	cmd.SetArgs([]string{"install", "--export", "--namespace", "ferry-system", "--replicas", "2"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("ferry install --export: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"kind: Deployment", "namespace: ferry-system", "replicas: 2", "kind: CustomResourceDefinition"} {
		if !strings.Contains(out, want) {
			t.Errorf("the export lacks %q", want)
		}
	}
	if strings.Contains(out, "no release version") || !strings.Contains(stderr.String(), "no release version") {
		t.Errorf("stdout has the warning, or stderr lacks it:\nstderr: %s", stderr.String())
	}
}

func TestInstallRefusesBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--export", "--replicas", "0"}, "--replicas 0"},
		{[]string{"install", "--export", "--namespace", "Bad_NS"}, `namespace "Bad_NS"`},
		{[]string{"install", "--export", "--image", "ferry:not a tag"}, `image "ferry:not a tag"`},
	} {
		_, err := run(t, tt.args...)
		wantError(t, err, tt.want)
	}
}

// TestUninstallAsksFirst: without --yes and without a terminal to ask on,
// nothing is removed.
func TestUninstallAsksFirst(t *testing.T) {
	_, err := run(t, "uninstall", "--kubeconfig", env.Cluster.KubeconfigPath())
	wantError(t, err, "not confirmed", "--yes")
}
