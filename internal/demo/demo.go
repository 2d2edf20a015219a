// Package demo runs an example GitOps workflow end to end on a local control
// plane: a Git repository with apps/<env>/myapp for staging and production,
// the two example Applications of internal/examples verbatim (only repoURL
// pointed at the local repository), and Ferry's controller keeping the
// cluster matching Git; and the example sync-wave manifests, synced in the
// order their comments state.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/controller"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// Options configure the demo.
type Options struct {
	BinDir string
	Nodes  int
	// ExitWhenReady ends the demo once staging is Synced and production
	// awaits a manual sync, instead of waiting for Ctrl-C (for tests).
	ExitWhenReady bool
}

// Run runs the demo until ctx ends (or until ready, with ExitWhenReady).
// Everything it starts is stopped and every file it writes removed.
func Run(ctx context.Context, out io.Writer, opts Options) (err error) {
	work, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(out, "Starting a local Kubernetes %s control plane (%d fake nodes)...\n", localcluster.KubeVersion, opts.Nodes)
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: opts.Nodes, BinDir: opts.BinDir,
		Dir: filepath.Join(work, "cluster")})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "Stopping the controller and the control plane...")
		err = errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
	}()
	repoURL, err := writeRepository(ctx, filepath.Join(work, "gitops-repo"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Example GitOps repository: %s (branches main and staging)\n", repoURL)

	cl, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return err
	}
	if err := crd.Install(ctx, cl); err != nil {
		return err
	}
	ctrlCtx, stopController := context.WithCancel(ctx)
	defer stopController()
	var ctrlErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ctrlErr = controller.Run(ctrlCtx, c.UserConfig(), controller.Options{
			PollInterval: 10 * time.Second, MetricsAddr: "0", HealthAddr: "0", CacheDir: filepath.Join(work, "git-cache"),
			// The demo's repository is on local disk (writeRepository).
			AllowLocalRepositories: true,
		})
	}()
	defer func() { stopController(); <-stopped; err = errors.Join(err, ctrlErr) }()

	apps, err := applyExampleApplications(ctx, c, repoURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Applied the example Applications; Ferry's controller is running as %s.\n\n", localcluster.UserName)
	if err := watchUntilReady(ctx, out, cl, apps, stopped); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nmyapp-staging is Synced and Healthy; myapp-production is OutOfSync, awaiting a manual sync.\n")
	if err := printWaves(ctx, out, cl, apps[len(apps)-1]); err != nil {
		return err
	}
	fmt.Fprintf(out, "Try, in another shell:\n\n  export KUBECONFIG=%s\n  %s -n staging get deploy,svc,cm\n",
		c.KubeconfigPath(), filepath.Join(c.BinDir(), "kubectl"))
	fmt.Fprintf(out, "  %s app sync myapp-production\n  %s app list\n\n", ferryCommand(), ferryCommand())
	if opts.ExitWhenReady {
		return nil
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop; everything started is cleaned up.")
	<-ctx.Done()
	return nil
}

// writeRepository creates the example repository: apps/staging/myapp and
// apps/production/myapp as Kustomize directories and the sync-wave manifests
// in apps/waves/myapp, on main, and a staging branch.
func writeRepository(ctx context.Context, dir string) (string, error) {
	myapp := examples.MyApp()
	files, err := fs.ReadDir(myapp, ".")
	if err != nil {
		return "", err
	}
	waves := filepath.Join(dir, "apps", "waves", "myapp", "manifests.yaml")
	if err := os.MkdirAll(filepath.Dir(waves), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(waves, examples.SyncWaves(), 0o644); err != nil {
		return "", err
	}
	for _, env := range []string{"staging", "production"} {
		for _, f := range files {
			data, err := fs.ReadFile(myapp, f.Name())
			if err != nil {
				return "", err
			}
			path := filepath.Join(dir, "apps", env, "myapp", f.Name())
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return "", err
			}
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=Ferry Demo", "-c", "user.email=demo@example.com", "add", "-A"},
		{"-c", "user.name=Ferry Demo", "-c", "user.email=demo@example.com", "commit", "-q", "-m", "myapp for staging and production"},
		{"branch", "staging"},
	} {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return "file://" + dir, nil
}

// ferryCommand is how to run this very binary from the user's directory:
// "bin/ferry" after `make demo`.
func ferryCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "ferry"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return exe
}

func applyExampleApplications(ctx context.Context, c *localcluster.Cluster, repoURL string) ([]*v1alpha1.Application, error) {
	cl, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, err
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		return nil, err
	}
	var apps []*v1alpha1.Application
	for _, doc := range docs {
		app := &v1alpha1.Application{}
		if err := yaml.Unmarshal(doc, app); err != nil {
			return nil, fmt.Errorf("example applications: %w", err)
		}
		app.Spec.Source.RepoURL = repoURL
		if err := cl.Create(ctx, app); err != nil {
			return nil, fmt.Errorf("create application %s: %w", app.Name, err)
		}
		apps = append(apps, app)
	}
	waves := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "myapp-waves", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "main", Path: "apps/waves/myapp"},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "myapp"},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true}},
		},
	}
	if err := cl.Create(ctx, waves); err != nil {
		return nil, fmt.Errorf("create application %s: %w", waves.Name, err)
	}
	return append(apps, waves), nil
}

// printWaves shows the order the sync-wave Application's sync ran in.
func printWaves(ctx context.Context, out io.Writer, cl client.Client, app *v1alpha1.Application) error {
	got := &v1alpha1.Application{}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
		return err
	}
	st := got.Status.OperationState
	if st == nil || st.SyncResult == nil {
		return fmt.Errorf("application %s has no sync result", app.Name)
	}
	fmt.Fprintf(out, "\n%s synced its sync-wave example in this order (the Job ran and was deleted, HookSucceeded):\n", app.Name)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tWAVE\tKIND\tNAME\tRESULT")
	for _, r := range st.SyncResult.Resources {
		result := strings.TrimSpace(string(r.Status) + " " + string(r.HookPhase))
		if r.HookType != "" {
			result = string(r.HookType) + " hook " + result
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.SyncPhase, r.SyncWave, r.Kind, r.Name, result)
	}
	return tw.Flush()
}

// watchUntilReady prints a status table every second until staging is
// Synced and Healthy and production has been compared (OutOfSync).
func watchUntilReady(ctx context.Context, out io.Writer, cl client.Client, apps []*v1alpha1.Application, controllerStopped <-chan struct{}) error {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		ready := true
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSYNC STATUS\tHEALTH STATUS\tREVISION\tCONDITION")
		for _, a := range apps {
			got := &v1alpha1.Application{}
			if err := cl.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
				return err
			}
			cond := ""
			if len(got.Status.Conditions) > 0 {
				cond = string(got.Status.Conditions[0].Type) + ": " + got.Status.Conditions[0].Message
			}
			rev := got.Status.Sync.Revision
			if len(rev) > 7 {
				rev = rev[:7]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", got.Name, got.Status.Sync.Status, got.Status.Health.Status, rev, cond)
			switch got.Spec.SyncPolicy.Automated {
			case nil:
				ready = ready && got.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
			default:
				ready = ready && got.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && got.Status.Health.Status == v1alpha1.HealthStatusHealthy
			}
		}
		_ = tw.Flush()
		if ready {
			return nil
		}
		fmt.Fprintln(out)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-controllerStopped:
			return errors.New("the controller stopped; its error follows")
		case <-ticker.C:
		}
	}
}
