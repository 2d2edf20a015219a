package cli

import (
	"strings"
	"testing"

	"github.com/ferrycd/ferry/internal/cluster"
)

// TestClusterRmInCluster checks that the implicit in-cluster entry, which
// has no Secret, cannot be removed.
func TestClusterRmInCluster(t *testing.T) {
	_, err := ferryCluster(t, "rm", cluster.InClusterName, "--force")
	if err == nil || !strings.Contains(err.Error(), "has no Secret: the in-cluster entry is implicit") {
		t.Errorf("cluster rm in-cluster: err = %v", err)
	}
}
