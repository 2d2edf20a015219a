package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// kubeOptions are the flags of commands that talk to the Kubernetes API with
// the user's kubeconfig, so Kubernetes RBAC governs what they may do.
type kubeOptions struct {
	kubeconfig, context, namespace string
	allNamespaces                  bool
}

func (o *kubeOptions) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	o.addConfigFlags(f)
	f.StringVarP(&o.namespace, "namespace", "n", "argocd", "namespace of the Applications")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "Applications of every namespace")
}

// addConfigFlags registers the flags that choose the cluster and identity.
func (o *kubeOptions) addConfigFlags(f *pflag.FlagSet) {
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.context, "context", "", "kubeconfig context to use")
}

// KubeConfigFlags registers --kubeconfig and --context on f and returns the
// loader of the configuration they choose, for commands built outside this
// package (`ferry controller`). A long-running controller logs its own
// connection errors and retries: it gets no CLI hint in them.
func KubeConfigFlags(f *pflag.FlagSet) func() (*rest.Config, error) {
	o := &kubeOptions{}
	o.addConfigFlags(f)
	return func() (*rest.Config, error) {
		cfg, _, err := o.loadConfig()
		return cfg, err
	}
}

// loadConfig loads the kubeconfig (or the in-cluster configuration) and
// names the context it used ("in-cluster" when none).
func (o *kubeOptions) loadConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := loader.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, "", errNoKubeconfig(o.kubeconfig)
	}
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	ctxName := o.context
	if ctxName == "" {
		if raw, err := loader.RawConfig(); err == nil {
			ctxName = raw.CurrentContext
		}
	}
	if ctxName == "" {
		ctxName = "in-cluster"
	}
	return cfg, ctxName, nil
}

// restConfig is the CLI's configuration: a failure to reach the API server
// names the server and the context, and what to check.
func (o *kubeOptions) restConfig() (*rest.Config, error) {
	cfg, ctxName, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	server := cfg.Host
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &unreachable{next: rt, server: server, context: ctxName}
	})
	return cfg, nil
}

// client returns a client for the kubeconfig's cluster.
func (o *kubeOptions) client() (client.WithWatch, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	return client.NewWithWatch(cfg, client.Options{Scheme: api.NewScheme()})
}

// listNamespace is the namespace to list in: all with -A.
func (o *kubeOptions) listNamespace() string {
	if o.allNamespaces {
		return ""
	}
	return o.namespace
}

// printStructured writes obj as JSON or YAML.
func printStructured(w io.Writer, format string, obj any) error {
	switch format {
	case "json":
		data, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// pollApp reads an Application every 200 ms and hands it (or the read
// error) to check until check reports done or fails, or ctx ends. It is the
// one waiting loop of the app commands.
func pollApp(ctx context.Context, c client.Client, key client.ObjectKey, check func(*v1alpha1.Application, error) (bool, error)) error {
	for {
		app := &v1alpha1.Application{}
		err := c.Get(ctx, key, app)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		done, err := check(app, err)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
