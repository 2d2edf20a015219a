package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/notify"
)

// notifyOptions are the flags every `ferry notify` command shares.
type notifyOptions struct {
	kube *kubeOptions
	home string
}

func newNotifyCmd() *cobra.Command {
	o := &notifyOptions{kube: &kubeOptions{}}
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Notifications configured as Argo CD Notifications: test triggers and templates against an Application",
		Long: `Notifications are configured as Argo CD Notifications is: the argocd-notifications-cm
ConfigMap and the argocd-notifications-secret Secret in the controller's home namespace. These
commands read that configuration from the cluster and use the controller's own code, as
'argocd admin notifications' does.`,
		Example: `  ferry notify test on-sync-failed myapp-production
  ferry notify trigger run on-sync-failed myapp-production
  ferry notify template get
  ferry notify template notify app-deployed myapp-staging --recipient slack:deploys`,
	}
	o.kube.addFlags(cmd)
	cmd.PersistentFlags().StringVar(&o.home, "home-namespace", "argocd", "the namespace of the notification ConfigMap and Secret (the controller's --home-namespace)")
	cmd.AddCommand(newNotifyTestCmd(o), newNotifyTemplateCmd(o), newNotifyTriggerCmd(o))
	return cmd
}

// load reads the configuration, printing its warnings to errOut.
func (o *notifyOptions) load(ctx context.Context, errOut io.Writer) (client.Client, *notify.Config, error) {
	c, err := o.kube.client()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := (&notify.Loader{Reader: c, Namespace: o.home}).Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
	return c, cfg, nil
}

// event is the Application's event as the controller builds it.
func (o *notifyOptions) event(ctx context.Context, c client.Client, name string) (notify.Event, error) {
	app, err := getApp(ctx, c, client.ObjectKey{Namespace: o.kube.namespace, Name: name})
	if err != nil {
		return notify.Event{}, err
	}
	return notify.EventFor(app, nil)
}

func newNotifyTestCmd(o *notifyOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "test TRIGGER APP",
		Short: "Send what TRIGGER sends for an Application to every destination subscribed to it, whether or not its condition holds",
		Long: `Send the templates TRIGGER sends, rendered for APP, to every destination subscribed to it:
subscriptions in the argocd-notifications-cm ConfigMap and the Application's
notifications.argoproj.io/subscribe.<trigger>.<service> annotations. The condition is not
evaluated (see 'ferry notify trigger run') and nothing is recorded on the Application.`,
		Example: "  ferry notify test on-deployed myapp-staging",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := o.load(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			trigger := args[0]
			templates := cfg.TemplatesOf(trigger)
			if len(templates) == 0 {
				return fmt.Errorf("trigger %q is not defined (no trigger.%s key); defined: %s", trigger, trigger, strings.Join(cfg.Triggers(), ", "))
			}
			ev, err := o.event(ctx, c, args[1])
			if err != nil {
				return err
			}
			dests := cfg.Destinations(trigger, ev.Labels(), ev.Annotations())
			if len(dests) == 0 {
				return fmt.Errorf("nothing is subscribed to %s for %s/%s: add a subscription to %s or the annotation notifications.argoproj.io/subscribe.%s.<service>",
					trigger, o.kube.namespace, args[1], notify.ConfigMapName, trigger)
			}
			return send(ctx, cmd.OutOrStdout(), cfg, ev.For(trigger), templates, dests)
		},
	}
}

// send delivers and prints each outcome; errors are joined.
func send(ctx context.Context, out io.Writer, cfg *notify.Config, ev notify.Event, templates []string, dests []notify.Destination) error {
	var failed []error
	for _, o := range (&notify.Sender{}).Deliver(ctx, cfg, ev, templates, dests) {
		if o.Err != nil {
			failed = append(failed, o.Err)
			continue
		}
		fmt.Fprintf(out, "sent %s to %s%s\n", o.Template, o.Destination.Service, recipient(o.Destination.Recipient))
	}
	return errors.Join(failed...)
}

func newNotifyTemplateCmd(o *notifyOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "template", Short: "List, show and send notification templates"}
	var output string
	get := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List the templates (configured and built in), or show one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := o.load(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			names := cfg.Templates()
			if len(args) == 1 {
				names = args
			}
			return printTemplates(cmd.OutOrStdout(), cfg, names, output)
		},
	}
	get.Flags().StringVarP(&output, "output", "o", "wide", "wide (a table) or yaml")
	var recipients []string
	notifyCmd := &cobra.Command{
		Use:     "notify NAME APP",
		Short:   "Render a template for an Application and send it to the recipients given",
		Example: "  ferry notify template notify app-sync-succeeded guestbook --recipient slack:my-channel",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := o.load(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if _, ok := cfg.TemplateSource(args[0]); !ok {
				return fmt.Errorf("template %q is not defined (no template.%s key); defined: %s", args[0], args[0], strings.Join(cfg.Templates(), ", "))
			}
			if len(recipients) == 0 {
				return errors.New("no --recipient: give SERVICE[:RECIPIENT], e.g. --recipient slack:deploys")
			}
			var dests []notify.Destination
			for _, r := range recipients {
				service, rcpt, _ := strings.Cut(r, ":")
				dests = append(dests, notify.Destination{Service: service, Recipient: rcpt})
			}
			ev, err := o.event(ctx, c, args[1])
			if err != nil {
				return err
			}
			return send(ctx, cmd.OutOrStdout(), cfg, ev, []string{args[0]}, dests)
		},
	}
	notifyCmd.Flags().StringArrayVar(&recipients, "recipient", nil, "SERVICE[:RECIPIENT] to send to (repeatable)")
	cmd.AddCommand(get, notifyCmd)
	return cmd
}

func printTemplates(w io.Writer, cfg *notify.Config, names []string, output string) error {
	for _, name := range names {
		if _, ok := cfg.TemplateSource(name); !ok {
			return fmt.Errorf("template %q is not defined (no template.%s key)", name, name)
		}
	}
	switch output {
	case "yaml":
		for i, name := range names {
			src, _ := cfg.TemplateSource(name)
			if i > 0 {
				fmt.Fprintln(w, "---")
			}
			fmt.Fprintf(w, "# template.%s\n%s\n", name, strings.TrimRight(src, "\n"))
		}
		return nil
	case "wide", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPREVIEW")
		for _, name := range names {
			src, _ := cfg.TemplateSource(name)
			fmt.Fprintf(tw, "%s\t%s\n", name, preview(src))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output %q: want wide or yaml", output)
}

// preview is a template's first meaningful line, cut to 70 characters.
func preview(src string) string {
	for _, line := range strings.Split(src, "\n") {
		if line = strings.TrimSpace(line); line != "" && line != "message: |" {
			line = strings.TrimPrefix(line, "message: ")
			if r := []rune(line); len(r) > 70 {
				line = string(r[:70]) + "..."
			}
			return line
		}
	}
	return ""
}

func newNotifyTriggerCmd(o *notifyOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "List triggers and evaluate one against an Application"}
	get := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List the triggers (configured and built in) with their conditions and templates",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := o.load(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			names := cfg.Triggers()
			if len(args) == 1 {
				names = args
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTEMPLATE\tCONDITION\tONCE PER")
			for _, name := range names {
				conds, ok := cfg.Trigger(name)
				if !ok {
					return fmt.Errorf("trigger %q is not defined (no trigger.%s key)", name, name)
				}
				for _, c := range conds {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, strings.Join(c.Send, ", "), c.When, c.OncePer)
				}
			}
			return tw.Flush()
		},
	}
	run := &cobra.Command{
		Use:   "run NAME APP",
		Short: "Evaluate a trigger's conditions against an Application, as the controller does",
		Long: `Evaluate a trigger's conditions against an Application, as the controller does, and print
each condition's result and oncePer value. repo.GetCommitMetadata has no repository access here:
a condition using it is false.`,
		Example: "  ferry notify trigger run on-sync-status-unknown guestbook",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cfg, err := o.load(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ev, err := o.event(ctx, c, args[1])
			if err != nil {
				return err
			}
			results, err := cfg.Check(args[0], ev)
			if err != nil {
				return err
			}
			conds, _ := cfg.Trigger(args[0])
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONDITION\tRESULT\tONCE PER VALUE")
			for i, r := range results {
				fmt.Fprintf(tw, "%s\t%t\t%s\n", conds[i].When, r.Triggered, r.OncePer)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(get, run)
	return cmd
}

func recipient(r string) string {
	if r == "" {
		return ""
	}
	return ":" + r
}
