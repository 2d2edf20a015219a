package helm

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// loadFiles builds a chart from its files with Helm's loader, except for
// its subcharts: Helm's loader would expand a charts/*.tgz with its own
// archive reader (no entry limit, its own size limit), so subcharts are
// loaded here, recursively and against the same budget, and then attached
// as Helm's loader attaches them. They are attached in name order (Helm's
// order is a map's, random).
func loadFiles(files []*archive.BufferedFile, b *budget) (*chart.Chart, error) {
	var own []*archive.BufferedFile
	subcharts := map[string][]*archive.BufferedFile{}
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Name, "charts/")
		if !ok || path.Ext(f.Name) == ".prov" {
			own = append(own, f)
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		subcharts[name] = append(subcharts[name], &archive.BufferedFile{Name: rest, ModTime: f.ModTime, Data: f.Data})
	}
	c, err := loader.LoadFiles(own)
	if err != nil {
		return nil, err
	}
	c.Raw = make([]*common.File, 0, len(files))
	for _, f := range files {
		c.Raw = append(c.Raw, &common.File{Name: f.Name, ModTime: f.ModTime, Data: f.Data})
	}
	for _, name := range slices.Sorted(maps.Keys(subcharts)) {
		sub, err := loadSubchart(name, subcharts[name], b)
		if err != nil {
			return nil, fmt.Errorf("subchart charts/%s of chart %s: %w", name, c.Name(), err)
		}
		if sub != nil {
			c.AddDependency(sub)
		}
	}
	return c, nil
}

// loadSubchart loads the files under charts/name as Helm's loader does:
// names starting with "_" or "." are skipped, a name ending in .tgz is an
// archive, anything else a chart directory.
func loadSubchart(name string, files []*archive.BufferedFile, b *budget) (*chart.Chart, error) {
	switch {
	case strings.IndexAny(name, "_.") == 0:
		return nil, nil
	case path.Ext(name) == ".tgz":
		if files[0].Name != name {
			return nil, fmt.Errorf("expected an archive, found the directory %s", name)
		}
		return loadArchive(files[0].Data, b)
	}
	inner := make([]*archive.BufferedFile, 0, len(files))
	for _, f := range files {
		_, rest, ok := strings.Cut(f.Name, "/")
		if !ok {
			continue // a file directly in charts/ that is not an archive
		}
		inner = append(inner, &archive.BufferedFile{Name: rest, ModTime: f.ModTime, Data: f.Data})
	}
	return loadFiles(inner, b)
}

// checkTopChart refuses what `helm template` refuses of the chart it is
// given: a chart apiVersion other than v1 and v2 (Helm 4's v3 charts are
// experimental, and its install action rejects them).
func checkTopChart(c *chart.Chart) error {
	switch v := c.Metadata.APIVersion; v {
	case chart.APIVersionV1, chart.APIVersionV2:
		return nil
	default:
		return fmt.Errorf("chart %s has apiVersion %q; only %s and %s charts are supported", c.Name(), v, chart.APIVersionV1, chart.APIVersionV2)
	}
}
