package appset

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// ListGenerator yields one parameter set per element: the JSON objects of Elements, then those of
// the YAML list in ElementsYaml.
type ListGenerator struct {
	Elements     []json.RawMessage `json:"elements,omitempty"`
	ElementsYaml string            `json:"elementsYaml,omitempty"`
}

// list yields the list generator's elements.
func (g *generation) list(l *ListGenerator) ([]map[string]any, error) {
	sets := []map[string]any{}
	for i, raw := range l.Elements {
		el, err := decodeJSON(raw, !g.in.GoTemplate)
		if err != nil {
			return nil, fmt.Errorf("elements[%d]: %w", i, err)
		}
		set, err := g.elementParams(el)
		if err != nil {
			return nil, fmt.Errorf("elements[%d]: %w", i, err)
		}
		sets = append(sets, set)
	}
	if strings.TrimSpace(l.ElementsYaml) == "" {
		return sets, nil
	}
	var els []any
	if err := yaml.Unmarshal([]byte(l.ElementsYaml), &els, g.numbers); err != nil {
		return nil, fmt.Errorf("elementsYaml: %w", err)
	}
	for i, el := range els {
		set, err := g.elementParams(el)
		if err != nil {
			return nil, fmt.Errorf("elementsYaml[%d]: %w", i, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}
