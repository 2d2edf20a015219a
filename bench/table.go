package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
)

func printTable(w io.Writer, cfg config, rows []row) {
	fmt.Fprintf(w, "Ferry application engine benchmark: %d CPUs, %s, controller concurrency %d, poll interval %s, %d latency samples\n\n",
		runtime.NumCPU(), runtime.Version(), cfg.concurrency, cfg.pollInterval, cfg.samples)
	printRows(w, rows)
}

// printRows writes rows as a Markdown table.
func printRows(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "| measure\t| result\t| target\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t|\n", r.name, r.value, r.target)
	}
	_ = tw.Flush()
}
