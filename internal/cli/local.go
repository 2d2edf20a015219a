package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrycd/ferry/internal/localcluster"
)

type localOptions struct {
	dir     string
	binDir  string
	nodes   int
	timeout time.Duration
}

func newLocalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "local",
		Example: "  ferry local start --dir /tmp/k && KUBECONFIG=/tmp/k/kubeconfig kubectl get nodes",
		Short:   "Run a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)",
		Long: `Run a real Kubernetes control plane on this machine, with fake Nodes played by kwok,
for trying Ferry out, scripts and benchmarks. The binaries are built by "make kube".
Each start is a fresh cluster: the directory's previous cluster data is removed.`,
	}
	cmd.AddCommand(newLocalStartCmd(), newLocalStopCmd(), newLocalStatusCmd(), newLocalRunCmd())
	return cmd
}

func (o *localOptions) addDirFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory for the cluster's data, kubeconfig and logs (required)")
	_ = cmd.MarkFlagRequired("dir")
}

func (o *localOptions) addStartFlags(cmd *cobra.Command) {
	o.addDirFlags(cmd)
	cmd.Flags().IntVar(&o.nodes, "nodes", 1, "number of fake Nodes")
	cmd.Flags().StringVar(&o.binDir, "kube-dir", "", "directory of the control-plane binaries (default: the cache `make kube` builds into)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the cluster to become ready")
}

func (o *localOptions) resolve() error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("--dir %s: %w", o.dir, err)
	}
	o.dir = dir
	if o.binDir == "" {
		o.binDir = localcluster.DefaultBinDir()
	}
	return nil
}

func (o *localOptions) resolveStart() error {
	if o.nodes < 1 {
		return fmt.Errorf("--nodes must be at least 1, got %d", o.nodes)
	}
	return o.resolve()
}

func newLocalStartCmd() *cobra.Command {
	o := &localOptions{}
	cmd := &cobra.Command{
		Use:     "start --dir DIR [--nodes N]",
		Short:   "Start a local control plane in the background and wait until it is ready",
		Example: "  ferry local start --dir /tmp/k --nodes 3",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolveStart(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Starting a local control plane in %s (%d fake nodes)...\n", o.dir, o.nodes)
			s, err := startSupervisor(cmd.Context(), o)
			if err != nil {
				return err
			}
			printStarted(cmd.OutOrStdout(), o.dir, s)
			return nil
		},
	}
	o.addStartFlags(cmd)
	return cmd
}

// startSupervisor runs `ferry local run` as a detached process (its own
// session, so it outlives this command and the terminal) and waits until it
// has written the cluster's state, or has failed.
func startSupervisor(ctx context.Context, o *localOptions) (localcluster.State, error) {
	if s, err := localcluster.ReadState(o.dir); err == nil && localcluster.Alive(s.SupervisorPID) {
		return s, fmt.Errorf("a local control plane is already running in %s (pid %d): stop it with `ferry local stop --dir %s`", o.dir, s.SupervisorPID, o.dir)
	}
	if err := localcluster.CheckBinaries(o.binDir); err != nil {
		return localcluster.State{}, err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return localcluster.State{}, fmt.Errorf("create %s: %w", o.dir, err)
	}
	if err := localcluster.RemoveState(o.dir); err != nil {
		return localcluster.State{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return localcluster.State{}, fmt.Errorf("find the ferry binary: %w", err)
	}
	logPath := filepath.Join(o.dir, "ferry-local.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return localcluster.State{}, fmt.Errorf("create %s: %w", logPath, err)
	}
	defer logFile.Close()
	run := exec.Command(self, "local", "run", "--dir", o.dir, "--kube-dir", o.binDir,
		"--nodes", fmt.Sprint(o.nodes), "--timeout", o.timeout.String())
	run.Stdout, run.Stderr = logFile, logFile
	run.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := run.Start(); err != nil {
		return localcluster.State{}, fmt.Errorf("start the supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, o.timeout+30*time.Second)
	defer cancel()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		if s, err := localcluster.ReadState(o.dir); err == nil && s.SupervisorPID == run.Process.Pid {
			return s, nil
		}
		select {
		case err := <-exited:
			return localcluster.State{}, fmt.Errorf("local control plane failed to start (%v); log %s:\n%s", err, logPath, readTail(logPath))
		case <-ctx.Done():
			_ = syscall.Kill(run.Process.Pid, syscall.SIGTERM)
			<-exited
			return localcluster.State{}, fmt.Errorf("local control plane not ready: %w; log %s", ctx.Err(), logPath)
		case <-ticker.C:
		}
	}
}

func printStarted(w io.Writer, dir string, s localcluster.State) {
	fmt.Fprintf(w, "Local control plane (Kubernetes %s, %d fake nodes) is ready at %s\n\n", localcluster.KubeVersion, s.Nodes, s.Server)
	fmt.Fprintf(w, "Use it with the kubectl built beside it:\n\n")
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", s.Kubeconfig)
	fmt.Fprintf(w, "  %s get nodes\n\n", filepath.Join(s.BinDir, "kubectl"))
	fmt.Fprintf(w, "Context %q is an admin (system:masters); %q is an ordinary user bound to cluster-admin.\n", localcluster.AdminContext, localcluster.UserContext)
	fmt.Fprintf(w, "Stop it with: ferry local stop --dir %s\n", dir)
}

// newLocalRunCmd is the supervisor that `local start` detaches: it owns the
// component processes, writes the state file when ready and stops the
// cluster on SIGTERM or SIGINT.
func newLocalRunCmd() *cobra.Command {
	o := &localOptions{}
	cmd := &cobra.Command{
		Use:    "run --dir DIR",
		Short:  "Run a local control plane in the foreground until interrupted",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolveStart(); err != nil {
				return err
			}
			return runLocal(cmd.Context(), cmd.ErrOrStderr(), o)
		},
	}
	o.addStartFlags(cmd)
	return cmd
}

func runLocal(ctx context.Context, log io.Writer, o *localOptions) error {
	// A fresh cluster every time: old etcd data would hold objects signed by
	// keys and certificates that no longer exist.
	for _, sub := range []string{"etcd", "pki", "logs"} {
		if err := os.RemoveAll(filepath.Join(o.dir, sub)); err != nil {
			return fmt.Errorf("clear %s: %w", sub, err)
		}
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		Mode: localcluster.ModeFull, Nodes: o.nodes, Dir: o.dir, BinDir: o.binDir, Timeout: o.timeout,
	})
	if err != nil {
		return err
	}
	if err := localcluster.WriteState(o.dir, c.State(os.Getpid())); err != nil {
		return errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
	}
	fmt.Fprintf(log, "local control plane ready: %v\n", c.PIDs())
	<-ctx.Done()
	fmt.Fprintln(log, "stopping local control plane")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err = c.Stop(stopCtx)
	return errors.Join(err, localcluster.RemoveState(o.dir))
}

func newLocalStopCmd() *cobra.Command {
	o := &localOptions{}
	cmd := &cobra.Command{
		Use:     "stop --dir DIR",
		Short:   "Stop the local control plane started in DIR and every process it started",
		Example: "  ferry local stop --dir /tmp/k",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolve(); err != nil {
				return err
			}
			return stopLocal(cmd.Context(), cmd.OutOrStdout(), o.dir)
		},
	}
	o.addDirFlags(cmd)
	return cmd
}

func stopLocal(ctx context.Context, out io.Writer, dir string) error {
	s, err := localcluster.ReadState(dir)
	if errors.Is(err, localcluster.ErrNoState) {
		fmt.Fprintf(out, "No local control plane is running in %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	if localcluster.Alive(s.SupervisorPID) {
		_ = syscall.Kill(s.SupervisorPID, syscall.SIGTERM)
		waitCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		for localcluster.Alive(s.SupervisorPID) && waitCtx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Whatever the supervisor did, nothing it started may outlive this command.
	var survivors []string
	for name, pid := range s.Components {
		if localcluster.Alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			survivors = append(survivors, fmt.Sprintf("%s (pid %d)", name, pid))
		}
	}
	if localcluster.Alive(s.SupervisorPID) {
		_ = syscall.Kill(s.SupervisorPID, syscall.SIGKILL)
		survivors = append(survivors, fmt.Sprintf("supervisor (pid %d)", s.SupervisorPID))
	}
	if err := localcluster.RemoveState(dir); err != nil {
		return err
	}
	if len(survivors) > 0 {
		sort.Strings(survivors)
		fmt.Fprintf(out, "Killed processes that did not stop on SIGTERM: %v\n", survivors)
	}
	fmt.Fprintf(out, "Stopped the local control plane in %s\n", dir)
	return nil
}

func newLocalStatusCmd() *cobra.Command {
	o := &localOptions{}
	cmd := &cobra.Command{
		Use:     "status --dir DIR",
		Short:   "Show whether the local control plane in DIR is running and ready",
		Example: "  ferry local status --dir /tmp/k",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolve(); err != nil {
				return err
			}
			return localStatus(cmd.Context(), cmd.OutOrStdout(), o.dir)
		},
	}
	o.addDirFlags(cmd)
	return cmd
}

// errNotRunning makes `local status` exit non-zero for scripts.
var errNotRunning = errors.New("local control plane is not running")

func localStatus(ctx context.Context, out io.Writer, dir string) error {
	s, err := localcluster.ReadState(dir)
	if err != nil {
		fmt.Fprintf(out, "No local control plane is running in %s\n", dir)
		return errNotRunning
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE")
	names := make([]string, 0, len(s.Components)+1)
	pids := map[string]int{"supervisor": s.SupervisorPID}
	for name, pid := range s.Components {
		names, pids[name] = append(names, name), pid
	}
	sort.Strings(names)
	down := 0
	for _, name := range append([]string{"supervisor"}, names...) {
		state := "running"
		if !localcluster.Alive(pids[name]) {
			state, down = "exited", down+1
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, pids[name], state)
	}
	_ = tw.Flush()
	ready, total, err := readyNodes(ctx, s.Kubeconfig)
	if err != nil {
		fmt.Fprintf(out, "API server %s: %v\n", s.Server, err)
		return errNotRunning
	}
	fmt.Fprintf(out, "API server %s: ready; nodes Ready: %d/%d\n", s.Server, ready, total)
	if down > 0 {
		return fmt.Errorf("%w: %d of its processes exited", errNotRunning, down)
	}
	return nil
}

func readyNodes(ctx context.Context, kubeconfig string) (ready, total int, err error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, 0, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("list nodes: %w", err)
	}
	for i := range nodes.Items {
		if localcluster.NodeReady(&nodes.Items[i]) {
			ready++
		}
	}
	return ready, len(nodes.Items), nil
}

func readTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}
