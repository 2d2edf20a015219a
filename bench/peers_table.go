package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// printPeerTable writes the side-by-side table: a column per engine, then
// each peer's ratio to Ferry (the first column) where both measured.
func printPeerTable(w io.Writer, cfg config, results []peerResult, raw *rawResult) {
	fmt.Fprintf(w, "GitOps engines side by side: %d applications × 4 objects, %d CPUs, %s, poll interval %s, each engine on a control plane of its own\n\n",
		cfg.apps, runtime.NumCPU(), runtime.Version(), cfg.pollInterval)
	var ref *peerResult
	if len(results) > 0 && results[0].engine == "Ferry" && results[0].cold > 0 {
		ref = &results[0]
	}
	head := []string{"measure"}
	for _, r := range results {
		head = append(head, r.engine)
	}
	for _, r := range results {
		if ref != nil && r.engine != ref.engine {
			head = append(head, r.engine+" / Ferry")
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(cells ...string) { fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|") }
	line(head...)
	line(strings.Split(strings.Repeat("---,", len(head)), ",")[:len(head)]...)
	for _, m := range peerMeasures(cfg.apps) {
		if m.optional && !m.madeBy(results) {
			continue
		}
		cells := []string{m.name}
		for _, r := range results {
			cells = append(cells, m.cell(r))
		}
		for _, r := range results {
			if ref != nil && r.engine != ref.engine {
				cells = append(cells, ratio(m.value, r, *ref))
			}
		}
		line(cells...)
	}
	_ = tw.Flush()
	if raw != nil {
		fmt.Fprintf(w, "\nRaw server-side apply of the same %d objects (%d workers, no engine): %s, %.0f objects/s.\n",
			raw.objects, raw.workers, raw.took.Round(10*time.Millisecond), raw.rate())
		for _, r := range results {
			if r.cold > 0 {
				rate := float64(r.apps*4) / r.cold.Seconds()
				fmt.Fprintf(w, "%s cold: %.0f objects/s, %.2f of the raw rate.\n", r.engine, rate, rate/raw.rate())
			}
		}
	}
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "\n%s: %v\n", r.engine, r.err)
		}
	}
}

// peerMeasure is a row: its value in an engine's result (ok false when not
// measured) and how it prints.
type peerMeasure struct {
	name  string
	value func(peerResult) (float64, bool)
	print func(float64) string
	// optional rows are left out when no engine has a value other than 0.
	optional bool
}

func (m peerMeasure) madeBy(results []peerResult) bool {
	for _, r := range results {
		if v, ok := m.value(r); ok && v != 0 {
			return true
		}
	}
	return false
}

func (m peerMeasure) cell(r peerResult) string {
	v, ok := m.value(r)
	if !ok {
		return "–"
	}
	return m.print(v)
}

// ratio is peer / Ferry for a measure.
func ratio(value func(peerResult) (float64, bool), peer, ferry peerResult) string {
	p, ok1 := value(peer)
	f, ok2 := value(ferry)
	if !ok1 || !ok2 || f == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", p/f)
}

func peerMeasures(apps int) []peerMeasure {
	secs := func(v float64) string { return fmt.Sprintf("%.1f s", v) }
	cpu := func(v float64) string { return fmt.Sprintf("%.1f CPU-s", v) }
	duration := func(get func(peerResult) time.Duration) func(peerResult) (float64, bool) {
		return func(r peerResult) (float64, bool) { return get(r).Seconds(), get(r) > 0 }
	}
	after := func(get func(peerResult) time.Duration, v func(peerResult) float64) func(peerResult) (float64, bool) {
		return func(r peerResult) (float64, bool) { return v(r), get(r) > 0 }
	}
	cold := func(r peerResult) time.Duration { return r.cold }
	refresh := func(r peerResult) time.Duration { return r.refresh }
	idle := func(r peerResult) time.Duration {
		if r.idleReq == nil {
			return 0
		}
		return time.Second
	}
	ms := []peerMeasure{
		{"cold → all synced", duration(cold), secs, false},
		{"  engine CPU", after(cold, func(r peerResult) float64 { return r.coldCPU }), cpu, false},
		{"  kube-apiserver CPU", after(cold, func(r peerResult) float64 { return r.coldAPICPU }), cpu, false},
		{"forced full refresh, nothing changed", duration(refresh), secs, false},
		{"  engine CPU", after(refresh, func(r peerResult) float64 { return r.refreshCPU }), cpu, false},
		{"  kube-apiserver CPU", after(refresh, func(r peerResult) float64 { return r.refreshAPICPU }), cpu, false},
		{"  writes to managed objects", after(refresh, func(r peerResult) float64 { return r.refreshReq.managedWrites() }), count, false},
		{"idle, one poll interval: engine CPU", after(idle, func(r peerResult) float64 { return r.idleCPU }), cpu, false},
		{"  kube-apiserver CPU", after(idle, func(r peerResult) float64 { return r.idleAPICPU }), cpu, false},
		{"  API requests", after(idle, func(r peerResult) float64 { return r.idleReq.total() }), count, false},
		{"peak RSS (engine's processes summed)", after(cold, func(r peerResult) float64 { return float64(r.peakRSS) / (1 << 20) }),
			func(v float64) string { return fmt.Sprintf("%.0f MiB (%.0f KiB/object)", v, v*1024/float64(apps*4)) }, false},
		{"  of which anonymous (heap, stacks; sampled)", after(cold, func(r peerResult) float64 { return float64(r.peakAnon) / (1 << 20) }),
			func(v float64) string { return fmt.Sprintf("%.0f MiB (%.0f KiB/object)", v, v*1024/float64(apps*4)) }, false},
	}
	for _, phase := range []struct {
		name string
		when func(peerResult) time.Duration
		reqs func(peerResult) requestCounts
	}{
		{"cold", cold, func(r peerResult) requestCounts { return r.coldReq }},
		{"forced refresh", refresh, func(r peerResult) requestCounts { return r.refreshReq }},
	} {
		ms = append(ms, peerMeasure{"API requests per app, " + phase.name,
			after(phase.when, func(r peerResult) float64 { return phase.reqs(r).total() / float64(r.apps) }), perApp, false})
		for _, kind := range auditKinds() {
			ms = append(ms, peerMeasure{"  " + kind,
				after(phase.when, func(r peerResult) float64 { return phase.reqs(r)[kind] / float64(r.apps) }), perApp, true})
		}
	}
	return ms
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }
