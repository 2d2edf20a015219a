package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"

	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/controller"
	"github.com/ferrycd/ferry/internal/controller/notifications"
	"github.com/ferrycd/ferry/internal/source"
)

// newControllerCmd runs the controller. It lives here, not in internal/cli,
// so that the CLI package never links the controller: the binary wires them.
func newControllerCmd() *cobra.Command {
	var restConfig func() (*rest.Config, error)
	var qps float32
	var burst int
	opts := controller.Options{}
	cmd := &cobra.Command{
		Use:     "controller",
		Short:   "Run Ferry's controller: keep every Application's cluster state matching Git",
		Example: "  ferry controller --kubeconfig ~/.kube/config --poll-interval 1m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig()
			if err != nil {
				return err
			}
			// The API server's priority and fairness, not a client-side
			// limit, should pace a controller: client-go's default 20 QPS
			// would make a 1,000-application sync take minutes.
			cfg.QPS, cfg.Burst = qps, burst
			if err := shardingDefaults(cmd, &opts); err != nil {
				return err
			}
			// controller-runtime keeps its logger in a package variable; the
			// command sets it once, here, and nothing else does.
			ctrl.SetLogger(zap.New(zap.WriteTo(cmd.ErrOrStderr())))
			// Argo CD's notifications engine logs through logrus's standard
			// logger: routed to the same log, once, here.
			logrus.SetOutput(io.Discard)
			logrus.AddHook(notifications.LogrusHook(ctrl.Log.WithName("notifications")))
			return controller.Run(cmd.Context(), cfg, opts)
		},
	}
	f := cmd.Flags()
	restConfig = cli.KubeConfigFlags(f)
	f.Float32Var(&qps, "kube-api-qps", 500, "client-side limit on API requests per second")
	f.IntVar(&burst, "kube-api-burst", 1000, "client-side burst of API requests")
	f.StringSliceVar(&opts.ApplicationNamespaces, "application-namespaces", nil, "namespaces (globs) besides the home namespace whose Applications are reconciled; their project must list them in sourceNamespaces too (default: the home namespace only)")
	f.StringVar(&opts.HomeNamespace, "home-namespace", "argocd", "namespace of repository Secrets; its Applications are tracked by bare name")
	f.DurationVar(&opts.PollInterval, "poll-interval", time.Minute, "how often Git sources are checked for new revisions")
	f.DurationVar(&opts.WaveTimeout, "wave-timeout", 5*time.Minute, "how long a sync waits for one wave to become healthy (and its hooks to finish) before it fails")
	f.DurationVar(&opts.SelfHealDelay, "self-heal-delay", 0, "how long drift on a synced revision must have been seen before selfHeal syncs it away (Argo CD's --self-heal-timeout-seconds); drift in bursts is healed once; a new revision or a requested sync never waits (0: heal at once)")
	f.IntVar(&opts.Concurrency, "concurrency", 16, "Applications reconciled at once")
	f.StringVar(&opts.CacheDir, "cache-dir", "", "Git repository cache (default: the user cache directory)")
	opts.GitCacheMaxBytes, opts.RenderCacheMaxBytes = source.DefaultSnapshotCacheMaxBytes, appstate.DefaultRenderCacheMaxBytes
	f.Var(byteSize{&opts.GitCacheMaxBytes}, "git-cache-max-bytes", "memory for revisions read from Git (their files), least recently used out; a revision larger than this is read each time it is needed (bytes, or 512Mi, 1Gi)")
	f.Var(byteSize{&opts.RenderCacheMaxBytes}, "render-cache-max-bytes", "memory for rendered manifests (estimated), least recently used out (bytes, or 256Mi, 1Gi)")
	f.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "metrics listen address (0 disables)")
	f.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", "health probe listen address (0 disables)")
	f.StringVar(&opts.PprofAddr, "pprof-bind-address", "", "serve Go's profiles (/debug/pprof/) at this address, for measuring the controller; off by default")
	f.StringVar(&opts.WebhookAddr, "webhook-bind-address", ":8082", "Git and registry webhook receiver listen address (0 disables); secrets in the argocd-secret Secret")
	f.StringVar(&opts.UIAddr, "ui-bind-address", "0", "web UI listen address, e.g. :8083 (0 disables); people sign in with their own Kubernetes token")
	f.StringVar(&opts.WebhookTLSCert, "webhook-tls-cert-file", "", "serve the webhook receiver over HTTPS with this certificate")
	f.StringVar(&opts.WebhookTLSKey, "webhook-tls-key-file", "", "the webhook certificate's private key")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader to run ApplicationSet generation and image automation (and, unsharded, the Application controller) on one replica (default: on when sharded or --replicas is over 1)")
	f.StringVar(&opts.Sharding, "sharding", "", "spread Applications over replicas: leases (each replica holds a Lease in the home namespace; default when --replicas is over 1), static (with --shard), or none")
	f.IntVar(&opts.Shard, "shard", -1, "this replica's shard, from 0, for static sharding (Argo CD's --shard; with --replicas)")
	f.IntVar(&opts.Replicas, "replicas", 1, "how many replicas share the Applications (Argo CD's --replicas)")
	f.StringVar(&opts.ShardIdentity, "shard-identity", "", "this replica's name, for its shard Lease (default: $POD_NAME, else the host name)")
	f.BoolVar(&opts.InstallCRDs, "install-crds", true, "install or update Ferry's CRDs at start")
	f.BoolVar(&opts.AllowLocalRepositories, "allow-local-repositories", false, "let Applications, ApplicationSets and GitRepositories read repositories on the controller's disk (file:// URLs and paths)")
	f.BoolVar(&opts.AllowHTTPChartRepositories, "allow-http-chart-repositories", false, "let Helm repositories and OCI registries be read over plain HTTP on hosts other than loopback")
	f.BoolVar(&opts.AllowLinkLocalAddresses, "allow-link-local-addresses", false, "let repository, registry and notification URLs reach link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10)")
	f.BoolVar(&opts.AllowCrossNamespaceRefs, "allow-cross-namespace-refs", false, "let ImagePolicies and ImageUpdateAutomations refer to objects in other namespaces")
	f.StringSliceVar(&opts.SSHKnownHostsFiles, "ssh-known-hosts-file", nil, "known_hosts files that ssh repositories' host keys are checked against (the install mounts Argo CD's argocd-ssh-known-hosts-cm) (default: $SSH_KNOWN_HOSTS, ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)")
	f.BoolVar(&opts.AllowExecCredentials, "allow-exec-credentials", false, "accept cluster Secrets whose config runs a program for credentials (execProviderConfig)")
	return cmd
}

// shardingDefaults settles the sharding flags: --shard means static;
// --replicas over 1 means leases unless told otherwise; sharded or
// replicated, leader election is on unless told otherwise.
func shardingDefaults(cmd *cobra.Command, opts *controller.Options) error {
	if opts.Sharding == "" {
		switch {
		case opts.Shard >= 0:
			opts.Sharding = controller.ShardingStatic
		case opts.Replicas > 1:
			opts.Sharding = controller.ShardingLeases
		}
	}
	if opts.Sharding == "none" {
		opts.Sharding = ""
	}
	if !cmd.Flags().Changed("leader-elect") && (opts.Sharding != "" || opts.Replicas > 1) {
		opts.LeaderElection = true
	}
	if opts.Sharding == controller.ShardingLeases && opts.ShardIdentity == "" {
		opts.ShardIdentity = os.Getenv("POD_NAME")
		if opts.ShardIdentity == "" {
			host, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("--sharding leases: name this replica with --shard-identity: %w", err)
			}
			opts.ShardIdentity = strings.ToLower(host)
		}
	}
	return nil
}

// byteSize is a flag of bytes: a number, or a Kubernetes quantity (512Mi,
// 1Gi, 500M).
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil {
		return "0"
	}
	return resource.NewQuantity(*b.p, resource.BinarySI).String()
}

func (b byteSize) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a size (bytes, or a quantity such as 512Mi)", s)
	}
	if q.Sign() <= 0 {
		return fmt.Errorf("%q is not a positive size", s)
	}
	*b.p = q.Value() // rounded up to a whole byte
	return nil
}

func (byteSize) Type() string { return "bytes" }
