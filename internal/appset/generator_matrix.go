package appset

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// MatrixGenerator yields the cartesian product of its generators' parameter sets, left to right.
// Unlike Argo CD (exactly two children, one level of nesting) it takes any number ≥ 2 at any
// depth. Each child after the first is run once per set accumulated so far: a list, clusters or
// git child has its spec rendered as a template over those parameters first (empty parameters
// render nothing, as in Argo CD); a matrix or merge child passes them on to its own children,
// together with any parameters it received itself. Two children yielding one key with different
// values is an error naming the key.
type MatrixGenerator struct {
	Generators []Generator `json:"generators"`
}

// matrix runs the cartesian product of m's generators.
func (g *generation) matrix(ctx context.Context, m *MatrixGenerator, at string, scope map[string]any) ([]map[string]any, error) {
	if len(m.Generators) < 2 {
		return nil, fmt.Errorf("%s: needs at least two generators, has %d", at, len(m.Generators))
	}
	acc := []map[string]any{{}}
	for i, child := range m.Generators {
		childAt := fmt.Sprintf("%s.generators[%d]", at, i)
		var next []map[string]any
		for _, a := range acc {
			sets, err := g.run(ctx, child, childAt, overlay(scope, a))
			if err != nil {
				return nil, err
			}
			for _, b := range sets {
				c, err := combine(a, b)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", childAt, err)
				}
				next = append(next, c)
			}
		}
		acc = next
	}
	return acc, nil
}

// combine returns the union of a and b. A key both hold must have equal values; nested objects
// (goTemplate mode) are combined key by key. Argo CD reports such conflicts in flat mode and
// silently keeps a's value in goTemplate mode; Ferry reports them in both.
func combine(a, b map[string]any) (map[string]any, error) {
	out := maps.Clone(a)
	for _, k := range slices.Sorted(maps.Keys(b)) {
		av, ok := out[k]
		if !ok {
			out[k] = b[k]
			continue
		}
		v, err := combineValue(k, av, b[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func combineValue(key string, a, b any) (any, error) {
	am, aok := asMap(a)
	bm, bok := asMap(b)
	if aok && bok {
		out := maps.Clone(am)
		for _, k := range slices.Sorted(maps.Keys(bm)) {
			if av, ok := out[k]; ok {
				v, err := combineValue(key+"."+k, av, bm[k])
				if err != nil {
					return nil, err
				}
				out[k] = v
			} else {
				out[k] = bm[k]
			}
		}
		return out, nil
	}
	if reflect.DeepEqual(a, b) {
		return a, nil
	}
	return nil, fmt.Errorf("parameter %q has conflicting values %s (earlier generator) and %s", key, show(a), show(b))
}
