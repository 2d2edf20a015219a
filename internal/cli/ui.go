package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/internal/ui"
)

// newUICmd is `ferry ui`: the web UI on this machine, as `argocd admin
// dashboard` serves Argo CD's, with the kubeconfig's user.
func newUICmd() *cobra.Command {
	o := &kubeOptions{}
	var addr, home string
	var noOpen bool
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web UI on loopback with your kubeconfig's identity, and open it in the browser",
		Long: `Serve Ferry's web UI on this machine. Every page and action reaches the API server as your
kubeconfig's user, so your RBAC decides what you see and may do. The server listens on loopback
only; the address it prints carries a ticket that signs the browser in (another local user
without it cannot).`,
		Example: "  ferry ui\n  ferry ui -A --address 127.0.0.1:8080 --no-open",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loopbackAddress(addr); err != nil {
				return err
			}
			cfg, err := o.restConfig()
			if err != nil {
				return err
			}
			return serveUI(cmd, cfg, o.listNamespace(), addr, home, !noOpen)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&addr, "address", "127.0.0.1:8080", "loopback address to listen on (port 0: any free port)")
	f.StringVar(&home, "home-namespace", "argocd", "the controller's home namespace (AppProjects, cluster and repository Secrets)")
	f.BoolVar(&noOpen, "no-open", false, "print the address, do not open a browser")
	return cmd
}

func serveUI(cmd *cobra.Command, cfg *rest.Config, namespace, addr, home string, open bool) error {
	ctx := cmd.Context()
	scheme := api.NewScheme()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	copts := cache.Options{Scheme: scheme, Mapper: mapper, DefaultTransform: cache.TransformStripManagedFields()}
	if namespace != "" {
		copts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	c, err := cache.New(cfg, copts)
	if err != nil {
		return err
	}
	ticket := randomTicket()
	srv, err := ui.New(ui.Options{Config: cfg, Local: true, Ticket: ticket, Cache: c, Scheme: scheme, Mapper: mapper, Home: home})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	go func() { _ = c.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !c.WaitForCacheSync(syncCtx) {
		return fmt.Errorf("the Applications of %s could not be listed within a minute: check that your kubeconfig's user may list and watch applications.argoproj.io there", orDefault(namespace, "every namespace"))
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	url := fmt.Sprintf("http://%s/login?ticket=%s", l.Addr(), ticket)
	fmt.Fprintf(cmd.OutOrStdout(), "Ferry UI: %s\n(the address signs you in; Ctrl-C stops it)\n", url)
	if open {
		openBrowser(url)
	}
	return srv.Serve(ctx, l)
}

// loopbackAddress refuses an --address off loopback, before anything else
// is read: the UI serves the kubeconfig's view of the cluster.
func loopbackAddress(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--address %s: %w", addr, err)
	}
	if !ui.IsLoopback(host) {
		return fmt.Errorf("--address %s: ferry ui serves your credentials' view, so it listens on loopback only", addr)
	}
	return nil
}

func randomTicket() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openBrowser opens url with the desktop's opener, if there is one; the
// printed address is the fallback.
func openBrowser(url string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if path, err := exec.LookPath(name); err == nil {
		_ = exec.Command(path, url).Start()
	}
}
