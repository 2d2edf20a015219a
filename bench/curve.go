package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// curveBench runs Ferry at each size of -scale-curve, each on a control
// plane of its own, from one repository of the largest size, and prints how
// cold time, idle CPU, memory and requests grow with the number of
// Applications.
func curveBench(ctx context.Context, cfg config) error {
	sizes, err := parseSizes(cfg.scaleCurve)
	if err != nil {
		return err
	}
	ferry, err := ferryBinary(ctx, cfg.ferry)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "ferry-curve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	repoURL, head, closeRepo, err := servedRepo(work, slices.Max(sizes))
	if err != nil {
		return err
	}
	defer closeRepo()
	var results []peerResult
	for _, n := range sizes {
		res := runEngine(ctx, cfg, &ferryEngine{bin: ferry, cfg: cfg}, filepath.Join(work, fmt.Sprintf("ferry-%d", n)), repoURL, head, n)
		if res.err != nil {
			fmt.Fprintf(os.Stderr, "%d applications: %v\n", n, res.err)
		}
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	printCurve(os.Stdout, cfg, results)
	return nil
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-scale-curve: %q is not a number of Applications", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// printCurve writes a row per size; the per-Application columns show
// whether cost grows linearly (constant per Application) or worse.
func printCurve(w io.Writer, cfg config, results []peerResult) {
	fmt.Fprintf(w, "Ferry's cost by number of Applications (× 4 objects each), poll interval %s, controller concurrency %d\n\n", cfg.pollInterval, cfg.concurrency)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "| Applications\t| cold → all Synced\t| objects/s\t| forced refresh\t| idle CPU per poll interval\t| per 1,000 apps\t| peak RSS\t| KiB per object (anonymous)\t| requests per app, cold\t| refresh writes\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range results {
		objects := float64(r.apps * 4)
		cells := []string{strconv.Itoa(r.apps), "–", "–", "–", "–", "–", "–", "–", "–", "–"}
		if r.cold > 0 {
			cells[1] = r.cold.Round(100 * time.Millisecond).String()
			cells[2] = fmt.Sprintf("%.0f", objects/r.cold.Seconds())
			cells[6] = fmt.Sprintf("%.0f MiB (anonymous %.0f MiB)", float64(r.peakRSS)/(1<<20), float64(r.peakAnon)/(1<<20))
			cells[7] = fmt.Sprintf("%.1f (%.1f)", float64(r.peakRSS)/1024/objects, float64(r.peakAnon)/1024/objects)
			cells[8] = perApp(r.coldReq.total() / float64(r.apps))
		}
		if r.idleReq != nil {
			cells[4] = fmt.Sprintf("%.2f CPU-s", r.idleCPU)
			cells[5] = fmt.Sprintf("%.2f CPU-s", r.idleCPU*1000/float64(r.apps))
		}
		if r.refresh > 0 {
			cells[3] = r.refresh.Round(100 * time.Millisecond).String()
			cells[9] = fmt.Sprintf("%.0f", r.refreshReq.managedWrites())
		}
		fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|")
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "\n%d applications: %v\n", r.apps, r.err)
		}
	}
}
