package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// repo is the benchmark's Git repository: apps/app-NNNN/ with podinfo's four
// kinds each, and apps/latency/ for the latency benchmarks.
type repo struct{ dir string }

func newRepo(dir string, apps int) (*repo, error) {
	r := &repo{dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"config", "user.email", "bench@example.com"}, {"config", "user.name", "bench"}} {
		if _, err := r.git(args...); err != nil {
			return nil, err
		}
	}
	for i := range apps {
		if err := r.write(fmt.Sprintf("apps/app-%04d/app.yaml", i), podinfo(fmt.Sprintf("app-%04d", i))); err != nil {
			return nil, err
		}
	}
	if err := r.write("apps/latency/cm.yaml", latencyConfigMap("0")); err != nil {
		return nil, err
	}
	if _, err := r.commit("bench"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *repo) url() string { return "file://" + r.dir }

func (r *repo) git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (r *repo) write(path, content string) error {
	full := filepath.Join(r.dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, []byte(content), 0o644)
}

func (r *repo) commit(msg string) (string, error) {
	if _, err := r.git("add", "-A"); err != nil {
		return "", err
	}
	if _, err := r.git("commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	return r.git("rev-parse", "HEAD")
}

// podinfo is the four objects per application Flux's benchmark uses.
func podinfo(name string) string {
	return strings.ReplaceAll(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: NAME
---
apiVersion: v1
kind: Service
metadata:
  name: NAME
spec:
  selector:
    app: NAME
  ports:
    - name: http
      port: 9898
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  replicas: 0
  selector:
    matchLabels:
      app: NAME
  template:
    metadata:
      labels:
        app: NAME
    spec:
      serviceAccountName: NAME
      containers:
        - name: podinfo
          image: ghcr-example/podinfo:6.5.0
          ports:
            - name: http
              containerPort: 9898
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: NAME
spec:
  rules:
    - host: NAME.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: NAME
                port:
                  number: 9898
`, "NAME", name)
}

func latencyConfigMap(value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: latency\ndata:\n  value: %q\n", value)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
