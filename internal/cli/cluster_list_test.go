package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferrycd/ferry/internal/appview"
	"github.com/ferrycd/ferry/internal/cluster"
)

// TestClusterGetUnknown checks the error for a cluster no Secret has.
func TestClusterGetUnknown(t *testing.T) {
	_, err := ferryCluster(t, "get", "no-such-cluster")
	if err == nil || !strings.Contains(err.Error(), `cluster "no-such-cluster" not found`) {
		t.Errorf("get of an unknown cluster: err = %v", err)
	}
}

// TestClusterListInvalidSecret checks that a cluster Secret that does not
// parse is listed as Failed with a message naming the key at fault, found
// by get through its server however many trailing slashes either side
// writes, and that its token is never printed.
func TestClusterListInvalidSecret(t *testing.T) {
	const token = "l1st-s3cr3t"
	createClusterSecret(t, "cluster-invalid", map[string]string{
		"name":   "broken",
		"server": "https://invalid.example//",
		"config": `{"bearerToken":"` + token + `","tlsClientConfig":{"insecure":"yes"}}`,
	})
	var outputs strings.Builder
	run := func(args ...string) string {
		t.Helper()
		out, err := ferryCluster(t, args...)
		outputs.WriteString(out)
		if err != nil {
			t.Fatalf("cluster %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	row := tableRow(run("list"), "broken")
	if !strings.Contains(row, "https://invalid.example "+appview.ClusterFailed) || !strings.Contains(row, `key "config"`) {
		t.Errorf("cluster list row of broken = %q, want https://invalid.example Failed with a message naming key config", row)
	}
	var entries []appview.Cluster
	if err := json.Unmarshal([]byte(run("list", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Secret == "argocd/cluster-invalid" {
			found = true
			if e.Name != "broken" || e.Server != "https://invalid.example" || e.Status != appview.ClusterFailed || !strings.Contains(e.Message, `key "config"`) {
				t.Errorf("cluster list -o json: entry of the invalid Secret = %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("cluster list -o json lacks Secret argocd/cluster-invalid: %+v", entries)
	}
	out := run("get", "https://invalid.example/")
	if !strings.Contains(oneLine(out), "Secret: argocd/cluster-invalid") {
		t.Errorf("cluster get by server with a trailing slash:\n%s", out)
	}
	if !strings.Contains(oneLine(out), "Status: "+appview.ClusterFailed) {
		t.Errorf("cluster get of the invalid Secret, want Status Failed:\n%s", out)
	}
	if strings.Contains(outputs.String(), token) {
		t.Error("a cluster command printed the invalid Secret's token")
	}
}

// TestClusterListInClusterSecret checks that a Secret registering the
// in-cluster server (with a trailing slash and no name) replaces the
// implicit in-cluster entry instead of adding a second one.
func TestClusterListInClusterSecret(t *testing.T) {
	createClusterSecret(t, "cluster-in-cluster", map[string]string{"server": cluster.InClusterServer + "/", "config": "{}"})
	out, err := ferryCluster(t, "list", "-o", "json")
	var entries []appview.Cluster
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil {
		t.Fatalf("cluster list -o json: %v\n%s", err, out)
	}
	var inCluster []appview.Cluster
	for _, e := range entries {
		if e.Server == cluster.InClusterServer {
			inCluster = append(inCluster, e)
		}
	}
	if len(inCluster) != 1 || inCluster[0].Secret != "argocd/cluster-in-cluster" || inCluster[0].Name != cluster.InClusterName || inCluster[0].Status != appview.ClusterSuccessful {
		t.Errorf("cluster list -o json: in-cluster entries = %+v, want one, Successful, named in-cluster, from Secret argocd/cluster-in-cluster", inCluster)
	}
}

// tableRow is the row of a table whose first column is name, as one line
// with single spaces ("" when there is none).
func tableRow(table, name string) string {
	for line := range strings.SplitSeq(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// checkClusterList checks the table and JSON of `cluster list`: prod-us-east
// and the implicit in-cluster entry are reachable, and app targets the
// former.
func checkClusterList(t *testing.T, run func(...string) (string, error), server, app string) {
	t.Helper()
	out, err := run("list")
	if err != nil {
		t.Fatalf("cluster list: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME SERVER VERSION STATUS APPS MESSAGE" {
		t.Errorf("cluster list header = %q", lines[0])
	}
	rows := map[string][]string{}
	for _, line := range lines[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	if f := rows["prod-us-east"]; len(f) < 5 || f[1] != server || f[3] != appview.ClusterSuccessful || f[4] != "1" {
		t.Errorf("cluster list row of prod-us-east = %q, want %s Successful with 1 app:\n%s", f, server, out)
	}
	if f := rows[cluster.InClusterName]; len(f) < 4 || f[1] != cluster.InClusterServer || f[3] != appview.ClusterSuccessful {
		t.Errorf("cluster list row of in-cluster = %q, want Successful:\n%s", f, out)
	}
	out, err = run("list", "-o", "json")
	var entries []appview.Cluster
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil {
		t.Fatalf("cluster list -o json: %v\n%s", err, out)
	}
	for _, e := range entries {
		if e.Name == "prod-us-east" && (len(e.Applications) != 1 || e.Applications[0] != app) {
			t.Errorf("cluster list -o json: prod-us-east's applications = %v, want [%s]", e.Applications, app)
		}
	}
}
