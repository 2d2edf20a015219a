package appset

import (
	"testing"
)

func TestList(t *testing.T) {
	const nested = `
- list:
    elements:
    - cluster: engineering-dev
      url: https://kubernetes.default.svc
      values: {replicas: 3, tier: web}
      tags: [a, b]
      enabled: true
      big: 1000000
      ratio: 0.5
      none: null
      empty: {}
    - cluster: engineering-prod
      url: https://prod.example.com
`
	runGenCases(t, []genCase{
		{
			name: "flat mode flattens nested values into dotted string parameters",
			gens: nested,
			want: `
- cluster: engineering-dev
  url: https://kubernetes.default.svc
  values.replicas: "3"
  values.tier: web
  tags.0: a
  tags.1: b
  enabled: "true"
  big: "1000000"
  ratio: "0.5"
  none: ""
- cluster: engineering-prod
  url: https://prod.example.com
`,
		},
		{
			name:   "goTemplate mode keeps structure and types",
			gens:   nested,
			goTmpl: true,
			want: `
- cluster: engineering-dev
  url: https://kubernetes.default.svc
  values: {replicas: 3, tier: web}
  tags: [a, b]
  enabled: true
  big: 1000000
  ratio: 0.5
  none: null
  empty: {}
- cluster: engineering-prod
  url: https://prod.example.com
`,
		},
		{
			name: "elementsYaml follows elements",
			gens: `
- list:
    elements:
    - name: a
    elementsYaml: |
      - name: b
        size: 2
      - name: c
`,
			want: `[{name: a}, {name: b, size: "2"}, {name: c}]`,
		},
		{
			name: "top-level generators are concatenated in order",
			gens: `
- list: {elements: [{name: a}]}
- list: {elements: []}
- list: {elements: [{name: b}, {name: c}]}
`,
			want: `[{name: a}, {name: b}, {name: c}]`,
		},
		{
			name:    "an element that is not an object",
			gens:    `[{list: {elements: [{name: a}, x]}}]`,
			wantErr: []string{`generators[0].list: elements[1]: not an object but "x"`},
		},
		{
			name:    "two values flattening to one name",
			gens:    `[{list: {elements: [{a.b: x, a: {b: y}}]}}]`,
			wantErr: []string{`generators[0].list: elements[0]: two values flatten to the parameter name "a.b"`},
		},
		{
			name:    "elementsYaml that is not a list",
			gens:    `[{list: {elementsYaml: "name: a"}}]`,
			wantErr: []string{`generators[0].list: elementsYaml: `},
		},
	})
}
