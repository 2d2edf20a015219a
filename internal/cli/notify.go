package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/notify"
)

func newNotifyCmd() *cobra.Command {
	o := &kubeOptions{}
	cmd := &cobra.Command{
		Use:     "notify",
		Short:   "Notifications: Argo CD Notifications' ConfigMap and Secret, Ferry's built-in triggers",
		Example: "  ferry notify test on-sync-failed myapp-production",
	}
	o.addFlags(cmd)
	cmd.AddCommand(newNotifyTestCmd(o))
	return cmd
}

func newNotifyTestCmd(o *kubeOptions) *cobra.Command {
	var home string
	cmd := &cobra.Command{
		Use:   "test TRIGGER APP",
		Short: "Send a sample notification of TRIGGER for an Application to every destination subscribed to it",
		Long: `Send a sample notification, as the controller would when TRIGGER fires for APP, to every
destination subscribed to it: subscriptions in the argocd-notifications-cm ConfigMap and the
Application's notifications.argoproj.io/subscribe.<trigger>.<service> annotations. Triggers:
on-sync-failed, on-sync-succeeded, on-deployed, on-health-degraded, on-drift-detected,
on-out-of-sync, on-sync-status-unknown.`,
		Example: "  ferry notify test on-deployed myapp-staging",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return notifyTest(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, home, client.ObjectKey{Namespace: o.namespace, Name: args[1]}, args[0])
		},
	}
	cmd.Flags().StringVar(&home, "home-namespace", "argocd", "the namespace of the notification ConfigMap and Secret (the controller's --home-namespace)")
	return cmd
}

func notifyTest(ctx context.Context, out, errOut io.Writer, c client.Client, home string, key client.ObjectKey, trigger string) error {
	app, err := getApp(ctx, c, key)
	if err != nil {
		return err
	}
	cfg, err := (&notify.Loader{Reader: c, Namespace: home}).Load(ctx)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
	dests := cfg.Destinations(trigger, app.Labels, app.Annotations)
	if len(dests) == 0 {
		return fmt.Errorf("nothing is subscribed to %s for %s: add a subscription to %s or the annotation notifications.argoproj.io/subscribe.%s.<service>",
			trigger, key, notify.ConfigMapName, trigger)
	}
	ev, err := notify.EventFor(app, trigger, "test notification from ferry notify test", map[string]string{"manager": "ferry-notify-test"})
	if err != nil {
		return err
	}
	var failed []error
	for _, o := range (&notify.Sender{}).Deliver(ctx, cfg, ev, dests) {
		if o.Err != nil {
			failed = append(failed, o.Err)
			continue
		}
		fmt.Fprintf(out, "sent %s (template %s) to %s%s\n", trigger, o.Template, o.Destination.Service, recipient(o.Destination.Recipient))
	}
	return errors.Join(failed...)
}

func recipient(r string) string {
	if r == "" {
		return ""
	}
	return ":" + r
}
