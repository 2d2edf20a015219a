package appset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// MergeGenerator yields the first generator's parameter sets, each overridden by the set of every
// later generator that has equal values for all MergeKeys. Later sets matching no base set are
// dropped, as in Argo CD.
type MergeGenerator struct {
	MergeKeys  []string    `json:"mergeKeys"`
	Generators []Generator `json:"generators"`
}

// merge runs m's generators and overrides the first one's sets with the later ones' matching sets.
func (g *generation) merge(ctx context.Context, m *MergeGenerator, at string, scope map[string]any) ([]map[string]any, error) {
	if len(m.Generators) < 2 {
		return nil, fmt.Errorf("%s: needs at least two generators, has %d", at, len(m.Generators))
	}
	if len(m.MergeKeys) == 0 {
		return nil, fmt.Errorf("%s: mergeKeys is empty", at)
	}
	var out []map[string]any
	var baseKeys []string
	for i, child := range m.Generators {
		childAt := fmt.Sprintf("%s.generators[%d]", at, i)
		sets, err := g.run(ctx, child, childAt, scope)
		if err != nil {
			return nil, err
		}
		keys, byKey, err := indexByMergeKeys(sets, m.MergeKeys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", childAt, err)
		}
		if i == 0 {
			out, baseKeys = slices.Clone(sets), keys
			continue
		}
		for j, k := range baseKeys {
			if over, ok := byKey[k]; ok {
				out[j] = overlay(out[j], over)
			}
		}
	}
	return out, nil
}

// indexByMergeKeys returns, for each set, the JSON encoding of its merge key values, and the sets
// by that encoding. A set without one of the keys, or two sets with the same values, is an error.
func indexByMergeKeys(sets []map[string]any, mergeKeys []string) ([]string, map[string]map[string]any, error) {
	keys := make([]string, len(sets))
	byKey := make(map[string]map[string]any, len(sets))
	first := make(map[string]int, len(sets))
	for i, set := range sets {
		values := make([]any, len(mergeKeys))
		for j, mk := range mergeKeys {
			v, ok := lookup(set, mk)
			if !ok {
				return nil, nil, fmt.Errorf("parameter set %d has no merge key %q", i, mk)
			}
			values[j] = v
		}
		raw, err := json.Marshal(values)
		if err != nil {
			return nil, nil, fmt.Errorf("parameter set %d: merge key values: %w", i, err)
		}
		k := string(raw)
		if j, dup := first[k]; dup {
			return nil, nil, fmt.Errorf("parameter sets %d and %d have the same merge key values %s", j, i, k)
		}
		first[k], keys[i], byKey[k] = i, k, set
	}
	return keys, byKey, nil
}

// lookup finds key in set: as a flat name, or else as a dotted path into nested objects.
func lookup(set map[string]any, key string) (any, bool) {
	if v, ok := set[key]; ok {
		return v, true
	}
	var cur any = set
	for part := range strings.SplitSeq(key, ".") {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
