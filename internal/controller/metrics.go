package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferrycd/ferry/internal/source"
)

// gitCollector exports the Git cache's per-repository counters, read at
// scrape time from the cache itself, so the cache needs no metrics code.
type gitCollector struct {
	sources *source.Cache
	desc    *prometheus.Desc
}

func newGitCollector(sources *source.Cache) *gitCollector {
	return &gitCollector{sources: sources, desc: prometheus.NewDesc("ferry_git_operations_total",
		"Git operations per repository: clone, ref listing (ls-remote), fetch, snapshot (checkout into memory).",
		[]string{"repo", "operation"}, nil)}
}

func (c *gitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *gitCollector) Collect(ch chan<- prometheus.Metric) {
	for repo, s := range c.sources.Stats() {
		for op, n := range map[string]int64{"clone": s.Clones, "ls-remote": s.RefListings, "fetch": s.Fetches, "snapshot": s.Snapshots} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), repo, op)
		}
	}
}
