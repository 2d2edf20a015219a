package chartrepo

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

// indexFile is the part of a Helm repository's index.yaml that Ferry reads:
// the fields of helm.sh/helm/v4/pkg/repo/v1.IndexFile and ChartVersion that
// choose a version and download it, under the same names. Helm's own type
// is not used: its package pulls Helm's getters, OCI client and plugin
// runtime (oras, wazero) into the binary for a struct, and its IndexFile.Get
// logs through the global logger. Tests check that the choice is Helm's.
type indexFile struct {
	APIVersion string                   `json:"apiVersion"`
	Entries    map[string][]*indexEntry `json:"entries"`
}

type indexEntry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
}

// chartVersion is one version of a chart, as a catalog keeps it.
type chartVersion struct {
	version string          // as the index or tag spells it (tags with "_" for "+")
	semver  *semver.Version // parsed
	urls    []string        // Helm repositories: where to download it
	digest  string          // Helm repositories: the archive's sha256 (hex), "" if the index gives none
}

// chartVersions are a chart's versions, newest first.
type chartVersions []chartVersion

// parseIndex reads an index.yaml (or its JSON form) as Helm does: entries
// whose version is not semver or whose name is empty are skipped, versions
// are sorted newest first, an index without apiVersion is refused (a
// server answering index.yaml with an HTML page, say). Unknown fields are
// ignored, as Argo CD does; Helm's strict parser would refuse an index a
// newer Helm wrote.
func parseIndex(data []byte) (*catalog, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, errors.New("empty index")
	}
	var idx indexFile
	var err error
	if json.Valid(data) {
		err = json.Unmarshal(data, &idx)
	} else {
		err = yaml.Unmarshal(data, &idx)
	}
	if err != nil {
		return nil, fmt.Errorf("not a Helm repository index: %w", err)
	}
	if idx.APIVersion == "" {
		return nil, errors.New("not a Helm repository index: no apiVersion")
	}
	cat := &catalog{charts: make(map[string]chartVersions, len(idx.Entries))}
	for name, entries := range idx.Entries {
		var vs chartVersions
		for _, e := range entries {
			if e == nil || e.Name == "" {
				continue
			}
			sv, err := semver.NewVersion(e.Version)
			if err != nil {
				continue
			}
			vs = append(vs, chartVersion{version: e.Version, semver: sv, urls: e.URLs, digest: e.Digest})
		}
		vs.sort()
		cat.charts[name] = vs
	}
	return cat, nil
}

// sort orders vs newest first; equal versions (1.0.0 and 1.0.0+build)
// keep the order the index gives.
func (vs chartVersions) sort() {
	slices.SortStableFunc(vs, func(a, b chartVersion) int { return b.semver.Compare(a.semver) })
}

// newConstraint parses a targetRevision as Helm does; "" means any
// version (but no prerelease).
func newConstraint(s string) (*constraint, error) {
	s = strings.TrimSpace(s)
	expr := s
	if expr == "" {
		expr = "*"
	}
	c, err := semver.NewConstraint(expr)
	if err != nil {
		return nil, err
	}
	return &constraint{raw: s, c: c}, nil
}

type constraint struct {
	raw string // as written; "" for any
	c   *semver.Constraints
}

// pick returns the version Helm's IndexFile.Get chooses: one spelled
// exactly as the constraint, else the newest the constraint accepts.
func (vs chartVersions) pick(c *constraint) (chartVersion, bool) {
	if c.raw != "" {
		for _, v := range vs {
			if v.version == c.raw {
				return v, true
			}
		}
	}
	for _, v := range vs {
		if c.c.Check(v.semver) {
			return v, true
		}
	}
	return chartVersion{}, false
}

// find returns the version spelled exactly version.
func (vs chartVersions) find(version string) (chartVersion, bool) {
	for _, v := range vs {
		if v.version == version {
			return v, true
		}
	}
	return chartVersion{}, false
}

// newest names the newest version for error messages.
func (vs chartVersions) newest() string {
	if len(vs) == 0 {
		return "none"
	}
	return vs[0].version
}
