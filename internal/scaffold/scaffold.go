// Package scaffold writes a GitOps repository laid out as Argo CD and Flux
// users commonly do, ready to render, validate and deploy: apps per
// environment, infrastructure base and overlays, a Helm chart with values per
// environment, the Applications of each cluster, and the validate and
// bootstrap scripts, in a Git repository with a main and a staging branch.
package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed template
var templates embed.FS

// Options configure Init.
type Options struct {
	// RepoURL is where the repository will be pushed; the Applications in
	// clusters/ point there.
	RepoURL string
}

// Environments and their Git branch, replica count and sync policy:
// production follows main and syncs by hand, staging follows its branch and
// syncs automatically, as the example Applications in internal/examples do.
var environments = []struct {
	Env, Branch string
	Replicas    int
	Automated   bool
}{
	{"production", "main", 3, false},
	{"staging", "staging", 1, true},
}

var apps = []string{"frontend", "backend"}

// platformChart is the example Helm chart: it lives in the repository, so
// rendering it fetches nothing. Its files are copied, not executed as
// templates (they are Helm's), and embedded under flat names: go:embed
// leaves out files starting with "_", such as _helpers.tpl.
const platformChart = "infrastructure/charts/platform"

// Init writes the repository into dir, which must not exist or be empty,
// and commits it on main with a staging branch. It returns the files written.
func Init(ctx context.Context, dir string, opts Options) ([]string, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: ferry init writes a new repository", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files, err := render(opts)
	if err != nil {
		return nil, err
	}
	var written []string
	for path, content := range files {
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, content, mode); err != nil {
			return nil, err
		}
		written = append(written, path)
	}
	if err := commit(ctx, dir); err != nil {
		return nil, err
	}
	return written, nil
}

// render returns every file of the layout by path.
func render(opts Options) (map[string][]byte, error) {
	files := map[string][]byte{}
	execute := func(path, tmpl string, data any) error {
		t, err := template.ParseFS(templates, "template/"+tmpl)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return fmt.Errorf("render %s: %w", path, err)
		}
		files[path] = buf.Bytes()
		return nil
	}
	copyFile := func(path, name string) error {
		data, err := templates.ReadFile("template/" + name)
		files[path] = data
		return err
	}
	steps := []error{
		copyFile("infrastructure/base/kustomization.yaml", "base-kustomization.yaml"),
		copyFile("infrastructure/base/namespaces.yaml", "base-namespaces.yaml"),
		copyFile("infrastructure/base/network-policies.yaml", "base-network-policies.yaml"),
		copyFile("infrastructure/base/resource-quotas.yaml", "base-resource-quotas.yaml"),
		copyFile(platformChart+"/Chart.yaml", "platform-chart.yaml"),
		copyFile(platformChart+"/values.yaml", "platform-values.yaml"),
		copyFile(platformChart+"/templates/_helpers.tpl", "platform-helpers.tpl"),
		copyFile(platformChart+"/templates/limitranges.yaml", "platform-limitranges.yaml"),
		copyFile(platformChart+"/templates/priorityclasses.yaml", "platform-priorityclasses.yaml"),
		copyFile("scripts/validate.sh", "validate.sh"),
		copyFile("policies/deployments.rego", "policy-deployments.rego"),
		copyFile("scripts/bootstrap.sh", "bootstrap.sh"),
		execute("README.md", "README.md.tmpl", nil),
	}
	for _, e := range environments {
		steps = append(steps, execute("infrastructure/overlays/"+e.Env+"/kustomization.yaml", "overlay-kustomization.yaml.tmpl", e))
		steps = append(steps, execute("clusters/"+e.Env+"/infrastructure.yaml", "cluster-application.yaml.tmpl", map[string]any{
			"Name": "infrastructure", "Env": e.Env, "RepoURL": opts.RepoURL, "Branch": e.Branch,
			"Path": "infrastructure/overlays/" + e.Env, "Namespace": "default", "Automated": e.Automated}))
		steps = append(steps, copyFile(platformChart+"/values-"+e.Env+".yaml", "platform-values-"+e.Env+".yaml"))
		steps = append(steps, execute("clusters/"+e.Env+"/platform.yaml", "cluster-application.yaml.tmpl", map[string]any{
			"Name": "platform", "Env": e.Env, "RepoURL": opts.RepoURL, "Branch": e.Branch,
			"Path": platformChart, "ValueFiles": []string{"values-" + e.Env + ".yaml"}, "Namespace": "default", "Automated": e.Automated}))
		for _, app := range apps {
			data := map[string]any{"App": app, "Replicas": e.Replicas}
			dir := "apps/" + e.Env + "/" + app + "/"
			steps = append(steps, execute(dir+"deployment.yaml", "app-deployment.yaml.tmpl", data))
			steps = append(steps, execute(dir+"kustomization.yaml", "app-kustomization.yaml.tmpl", data))
			steps = append(steps, execute("clusters/"+e.Env+"/"+app+".yaml", "cluster-application.yaml.tmpl", map[string]any{
				"Name": app, "Env": e.Env, "RepoURL": opts.RepoURL, "Branch": e.Branch,
				"Path": "apps/" + e.Env + "/" + app, "Namespace": app, "Automated": e.Automated}))
		}
	}
	return files, errors.Join(steps...)
}

// commit makes dir a Git repository with everything committed on main and a
// staging branch at the same commit. It runs git, which every user of a
// GitOps repository has; go-git would do, but the repository is the user's,
// and their git configuration (author, hooks, signing) should apply. Only
// when no author is configured does it commit as "ferry init".
func commit(ctx context.Context, dir string) error {
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := git("init", "-q", "-b", "main"); err != nil {
		return err
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	identity := []string{}
	if git("config", "user.email") != nil {
		identity = []string{"-c", "user.name=ferry init", "-c", "user.email=ferry-init@localhost"}
	}
	if err := git(append(identity, "commit", "-q", "-m", "Scaffold the GitOps repository (ferry init)")...); err != nil {
		return err
	}
	return git("branch", "staging")
}
