package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// Errors that say what to do. client-go's own words assume a reader who
// knows client-go ("try setting KUBERNETES_MASTER environment variable");
// these name Ferry's flags and commands instead.

// errNoKubeconfig is a cluster command run where no kubeconfig is found
// (explicit: the --kubeconfig given, which configures nothing).
func errNoKubeconfig(explicit string) error {
	where := "no kubeconfig at $KUBECONFIG or ~/.kube/config, and not running in a cluster"
	if explicit != "" {
		where = fmt.Sprintf("the kubeconfig %s configures no cluster", explicit)
	}
	return fmt.Errorf("no Kubernetes cluster configured: %s. "+
		"Pass --kubeconfig FILE, set KUBECONFIG, or start a local control plane with `ferry local start --dir DIR` and use the kubeconfig it prints", where)
}

// unreachable wraps the transport of a configuration so that a failure to
// connect names the API server and the kubeconfig context it came from.
type unreachable struct {
	next            http.RoundTripper
	server, context string
}

func (u *unreachable) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := u.next.RoundTrip(req)
	if err != nil && isConnectError(err) {
		return nil, &unreachableError{server: u.server, context: u.context, err: err}
	}
	return resp, err
}

// unreachableError is a connection to the API server that failed.
type unreachableError struct {
	server, context string
	err             error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Kubernetes API server %s (kubeconfig context %q): %v. "+
		"Is the cluster running? For a local control plane, `ferry local status --dir DIR`; to use another cluster, --context or --kubeconfig",
		e.server, e.context, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// isConnectError reports a failure to open a connection: refused, no route,
// an unknown host, a dial timeout.
func isConnectError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// explained adds what to do to errors every cluster command can meet.
func explained(err error) error {
	if err == nil {
		return nil
	}
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("%w: Ferry's resource types (CRDs) are not installed in this cluster; `ferry controller` installs them when it starts", err)
	}
	return err
}

// explainErrors wraps the RunE of cmd and every command under it with
// explained.
func explainErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error { return explained(run(c, args)) }
	}
	for _, sub := range cmd.Commands() {
		explainErrors(sub)
	}
}

// getApp reads one Application. When there is none of that name in the
// namespace asked, the error says where one is, or how to look.
func getApp(ctx context.Context, c client.Reader, key client.ObjectKey) (*v1alpha1.Application, error) {
	app := &v1alpha1.Application{}
	err := c.Get(ctx, key, app)
	if err == nil {
		return app, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get application %s: %w", key, err)
	}
	msg := fmt.Sprintf("application %q not found in namespace %q", key.Name, key.Namespace)
	all := &v1alpha1.ApplicationList{}
	if lerr := c.List(ctx, all); lerr != nil {
		return nil, fmt.Errorf("%s (`ferry app list -A` lists the Applications of every namespace): %w", msg, err)
	}
	var elsewhere []string
	for _, a := range all.Items {
		if a.Name == key.Name && a.Namespace != key.Namespace {
			elsewhere = append(elsewhere, a.Namespace)
		}
	}
	slices.Sort(elsewhere)
	switch len(elsewhere) {
	case 0:
		return nil, fmt.Errorf("%s, nor in any other (`ferry app list -A` lists them all): %w", msg, err)
	case 1:
		return nil, fmt.Errorf("%s; there is one in namespace %q: add -n %s: %w", msg, elsewhere[0], elsewhere[0], err)
	}
	return nil, fmt.Errorf("%s; there are ones in namespaces %s: choose one with -n: %w", msg, strings.Join(elsewhere, ", "), err)
}
