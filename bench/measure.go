package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// cpuSeconds returns a process's user+system CPU time.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// peakRSS returns a process's peak resident set size in bytes (VmHWM).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
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
