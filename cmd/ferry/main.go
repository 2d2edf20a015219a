// Command ferry is Ferry's single binary: the GitOps controller, the CLI, and
// the local control plane used by the demo and tests.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// Sync windows name IANA time zones; an image without /usr/share/zoneinfo
	// must still read them.
	_ "time/tzdata"

	"github.com/ferrycd/ferry/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCmd(cli.IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, newControllerCmd(), newDemoCmd()).ExecuteContext(ctx)
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "Error:", msg)
		}
		os.Exit(cli.ExitCode(err))
	}
}
