package validate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrycd/ferry/internal/scaffold"
	"github.com/ferrycd/ferry/internal/validate"
)

// writeLargeRepo writes 100 plain directories of 5 Deployments and 5
// Services each (1,000 objects) and the example policy of `ferry init`.
func writeLargeRepo(b *testing.B, dir string) {
	b.Helper()
	for d := range 100 {
		for i := range 5 {
			name := fmt.Sprintf("svc-%d-%d", d, i)
			files := map[string]string{
				fmt.Sprintf("apps/team-%d/%s-deployment.yaml", d, name): fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: team-%[2]d, labels: {app: %[1]s}}
spec:
  replicas: 2
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      securityContext: {runAsNonRoot: true}
      automountServiceAccountToken: false
      containers:
        - name: app
          image: example/%[1]s:1.0.%[2]d
          ports: [{containerPort: 8080}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}
`, name, d),
				fmt.Sprintf("apps/team-%d/%s-service.yaml", d, name): fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: team-%[2]d}
spec:
  selector: {app: %[1]s}
  ports: [{port: 80, targetPort: 8080}]
`, name, d),
			}
			for p, content := range files {
				full := filepath.Join(dir, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	initDir := filepath.Join(b.TempDir(), "init")
	if _, err := scaffold.Init(b.Context(), initDir, scaffold.Options{RepoURL: "https://git.example.com/r.git"}); err != nil {
		b.Fatal(err)
	}
	policy, err := os.ReadFile(filepath.Join(initDir, "policies", "deployments.rego"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies", "deployments.rego"), policy, 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkValidate1000Objects: discovery, render, schema, security rules and
// policies over 1,000 objects in 100 directories (docs/benchmarks.md).
func BenchmarkValidate1000Objects(b *testing.B) {
	dir := b.TempDir()
	writeLargeRepo(b, dir)
	for b.Loop() {
		r, err := validate.Run(b.Context(), validate.Options{Root: dir})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(r.Units); n != 100 || r.Count(validate.SeverityError) != 0 {
			b.Fatalf("%d units, %d errors", n, r.Count(validate.SeverityError))
		}
	}
}

// BenchmarkValidateInitRepository: the repository `ferry init` writes.
func BenchmarkValidateInitRepository(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "repo")
	if _, err := scaffold.Init(b.Context(), dir, scaffold.Options{RepoURL: "https://git.example.com/r.git"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := validate.Run(b.Context(), validate.Options{Root: dir}); err != nil {
			b.Fatal(err)
		}
	}
}
