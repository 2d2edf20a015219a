package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// cpuSeconds returns a process's user+system CPU time, with that of its
// children that have exited.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// utime, stime, and cutime, cstime: the children it waited for (Argo
	// CD's repo server runs git as processes; Ferry and Flux read Git in
	// process).
	var ticks float64
	for _, f := range fields[11:15] {
		t, _ := strconv.ParseFloat(f, 64)
		ticks += t
	}
	return ticks / 100, nil // USER_HZ is 100 on Linux
}

// peakRSS returns a process's peak resident set size in bytes (VmHWM).
func peakRSS(pid int) (int64, error) { return statusBytes(pid, "VmHWM") }

// anonRSS returns a process's resident anonymous memory in bytes
// (RssAnon): its heap, stacks and other memory of its own, without the
// pages of its executable file. The kernel keeps no peak of it, so
// anonSampler samples it.
func anonRSS(pid int) (int64, error) { return statusBytes(pid, "RssAnon") }

// statusBytes reads a size field ("NAME:  123 kB") of /proc/<pid>/status.
func statusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// anonSampler records the highest sum of some processes' anonymous memory,
// sampled every 200 ms until stopped.
type anonSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sampleAnon(pids func() []int) *anonSampler {
	s := &anonSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			var sum int64
			for _, pid := range pids() {
				n, _ := anonRSS(pid)
				sum += n
			}
			if sum > s.peak.Load() {
				s.peak.Store(sum)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak.
func (s *anonSampler) finish() int64 {
	close(s.stop)
	<-s.done
	return s.peak.Load()
}

// metrics is one scrape of the controller's metrics.
type metrics map[string]*dto.MetricFamily

func scrape(ctx context.Context, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sum adds the values of a counter's series whose labels match.
func (m metrics) sum(name string, match func(labels map[string]string) bool) float64 {
	fam, ok := m[name]
	if !ok {
		return 0
	}
	var total float64
	for _, s := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if match != nil && !match(labels) {
			continue
		}
		if c := s.GetCounter(); c != nil {
			total += c.GetValue()
		} else if g := s.GetGauge(); g != nil {
			total += g.GetValue()
		}
	}
	return total
}

// apiRequestKinds are the kinds of ferry_api_requests_total, in the order
// the table prints them.
func apiRequestKinds() []string {
	return []string{"apply", "dry-run", "status", "event", "create", "update", "patch", "delete", "get", "list", "watch", "discovery", "other"}
}

// requestsPer returns ferry_api_requests_total's growth from m0 to m1 by
// kind, divided by n.
func requestsPer(m0, m1 metrics, n int) map[string]float64 {
	out := map[string]float64{}
	for _, kind := range apiRequestKinds() {
		match := func(l map[string]string) bool { return l["kind"] == kind }
		out[kind] = (m1.sum("ferry_api_requests_total", match) - m0.sum("ferry_api_requests_total", match)) / float64(n)
	}
	return out
}

func isWrite(l map[string]string) bool {
	switch l["method"] {
	case "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

func isAppController(l map[string]string) bool { return l["controller"] == "application" }
