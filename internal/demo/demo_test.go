package demo

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoReachesTheSeedState runs what `make demo` runs, until the seed's
// state is reached: staging Synced and Healthy, production OutOfSync.
func TestDemoReachesTheSeedState(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), &out, Options{Nodes: 1, ExitWhenReady: true}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"myapp-staging is Synced and Healthy", "myapp-production is OutOfSync"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
