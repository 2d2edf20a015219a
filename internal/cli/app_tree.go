package cli

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appview"
)

// printTree prints the Application's resources with the objects they own
// (ReplicaSets, Jobs, Pods: appview.Tree).
func printTree(ctx context.Context, w io.Writer, c client.Client, app *v1alpha1.Application) error {
	nodes, err := appview.Tree(ctx, c, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s/%s\n", app.Namespace, app.Name)
	for i, n := range nodes {
		last := i == len(nodes)-1
		health := ""
		if n.Health != "" {
			health = " " + n.Health
		}
		fmt.Fprintf(w, "%s%s/%s %s%s\n", branch(last), n.Kind, n.Name, n.Sync, health)
		printChildren(w, n.Children, indent(last))
	}
	return nil
}

// printChildren prints owned objects with their short status: a count
// ("2/2 ready") where there is one, else the health (a Pod's phase).
func printChildren(w io.Writer, kids []appview.Node, prefix string) {
	for i, n := range kids {
		last := i == len(kids)-1
		status := n.HealthMessage
		if status == "" {
			status = n.Health
		}
		fmt.Fprintf(w, "%s%s%s/%s %s\n", prefix, branch(last), n.Kind, n.Name, status)
		printChildren(w, n.Children, prefix+indent(last))
	}
}

func branch(last bool) string {
	if last {
		return "└─ "
	}
	return "├─ "
}

func indent(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}
