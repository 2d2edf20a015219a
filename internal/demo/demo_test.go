package demo

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoReachesTheExampleState runs what `make demo` runs, until the
// example's state is reached: staging Synced and Healthy, production
// OutOfSync, and the example sync waves run in their order.
func TestDemoReachesTheExampleState(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), &out, Options{Nodes: 1, ExitWhenReady: true}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"myapp-staging is Synced and Healthy", "myapp-production is OutOfSync",
		"myapp-waves synced its sync-wave example in this order", "export KUBECONFIG=", " app sync myapp-production\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "patch application") {
		t.Errorf("the closing hint still tells the user to patch an operation by hand:\n%s", out.String())
	}
	// The rows of that table, in order: Namespace, ConfigMap, Job, Deployment.
	_, table, _ := strings.Cut(out.String(), "in this order")
	last := -1
	for _, row := range []string{"PreSync  -1    Namespace   myapp", "PreSync  0     ConfigMap   myapp-config", "PreSync  1     Job         db-migrate",
		"Sync     2     Deployment  myapp"} {
		i := strings.Index(table, row)
		if i <= last {
			t.Errorf("row %q missing or out of order in:\n%s", row, table)
		}
		last = i
	}
}
