package appset

import (
	"context"
	"testing"
)

// genCase is one Generate call: spec.generators as YAML, the inputs, and the exact parameter
// sets (as YAML) or error fragments expected.
type genCase struct {
	name     string
	gens     string
	clusters []Cluster
	goTmpl   bool
	options  []string
	want     string
	wantErr  []string
}

func runGenCases(t *testing.T, cases []genCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Inputs{Clusters: c.clusters, Repo: testRepo, GoTemplate: c.goTmpl, GoTemplateOptions: c.options}
			got, err := Generate(t.Context(), parseGens(t, c.gens), in)
			if c.wantErr != nil {
				wantError(t, err, c.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantYAML(t, got, c.want)
		})
	}
}

// pair is a small registry for products.
var pair = []Cluster{
	{Name: "c1", Server: "https://c1.example.com", Labels: map[string]string{"tier": "a"}},
	{Name: "c2", Server: "https://c2.example.com", Labels: map[string]string{"tier": "b"}},
}

// TestExampleApplicationSet is the example ApplicationSet (internal/examples/manifests): a cluster
// generator selecting production clusters, and its template rendered with each parameter set.
func TestExampleApplicationSet(t *testing.T) {
	gens := parseGens(t, `
- clusters:
    selector:
      matchLabels:
        environment: production
`)
	sets, err := Generate(t.Context(), gens, Inputs{Clusters: exampleClusters})
	if err != nil {
		t.Fatal(err)
	}
	wantYAML(t, sets, `
- name: prod-us-east
  nameNormalized: prod-us-east
  server: https://prod-us-east.example.com
  project: ""
  metadata.labels.environment: production
  metadata.labels.region: us-east
- name: prod-eu-west
  nameNormalized: prod-eu-west
  server: https://prod-eu-west.example.com
  project: ""
  metadata.labels.environment: production
  metadata.labels.region: eu-west
`)
	tmpl := parseValue(t, `
metadata:
  name: 'myapp-{{name}}'
spec:
  project: default
  source:
    repoURL: https://github.com/myorg/gitops-repo.git
    targetRevision: main
    path: 'apps/{{metadata.labels.region}}/myapp'
  destination:
    server: '{{server}}'
    namespace: myapp
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
`)
	var apps []any
	for _, set := range sets {
		app, err := Render(tmpl, set, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, app)
	}
	wantYAML(t, apps, `
- metadata:
    name: myapp-prod-us-east
  spec:
    project: default
    source:
      repoURL: https://github.com/myorg/gitops-repo.git
      targetRevision: main
      path: apps/us-east/myapp
    destination:
      server: https://prod-us-east.example.com
      namespace: myapp
    syncPolicy:
      automated: {prune: true, selfHeal: true}
- metadata:
    name: myapp-prod-eu-west
  spec:
    project: default
    source:
      repoURL: https://github.com/myorg/gitops-repo.git
      targetRevision: main
      path: apps/eu-west/myapp
    destination:
      server: https://prod-eu-west.example.com
      namespace: myapp
    syncPolicy:
      automated: {prune: true, selfHeal: true}
`)
}

func TestSelector(t *testing.T) {
	const abc = `{elements: [{name: a, env: prod}, {name: b, env: dev}, {name: c}]}`
	runGenCases(t, []genCase{
		{
			name: "matchLabels keeps the matching sets",
			gens: `[{list: ` + abc + `, selector: {matchLabels: {env: prod}}}]`,
			want: `[{name: a, env: prod}]`,
		},
		{
			name: "NotIn keeps sets without the key",
			gens: `[{list: ` + abc + `, selector: {matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}}]`,
			want: `[{name: b, env: dev}, {name: c}]`,
		},
		{
			name: "goTemplate parameters are matched flattened",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    directories: [{path: apps/*}]
  selector:
    matchExpressions:
    - {key: path.basename, operator: In, values: [api, web]}
`,
			goTmpl: true,
			want: `
- path: {path: apps/api, basename: api, basenameNormalized: api, segments: [apps, api]}
- path: {path: apps/web, basename: web, basenameNormalized: web, segments: [apps, web]}
`,
		},
		{
			name: "on a matrix, with a value that is no valid label value",
			gens: `
- matrix:
    generators:
    - clusters: {}
    - list: {elements: [{x: "1"}]}
  selector:
    matchLabels: {server: "https://c2.example.com"}
`,
			clusters: pair,
			want:     `[{name: c2, nameNormalized: c2, server: "https://c2.example.com", project: "", metadata.labels.tier: b, x: "1"}]`,
		},
		{
			name: "on a matrix's child",
			gens: `
- matrix:
    generators:
    - list: {elements: [{x: "1"}]}
    - clusters: {}
      selector: {matchLabels: {name: c1}}
`,
			clusters: pair,
			want:     `[{x: "1", name: c1, nameNormalized: c1, server: "https://c1.example.com", project: "", metadata.labels.tier: a}]`,
		},
		{
			name:    "a malformed selector",
			gens:    `[{list: ` + abc + `, selector: {matchExpressions: [{key: env, operator: In}]}}]`,
			wantErr: []string{`generators[0].selector: matchExpressions[0]: operator In needs values`},
		},
		{
			name: "a malformed selector on a nested child",
			gens: `
- matrix:
    generators:
    - list: {elements: [{x: "1"}]}
    - list: {elements: [{y: "1"}]}
      selector: {matchExpressions: [{key: y, operator: Exists, values: ["1"]}]}
`,
			wantErr: []string{`generators[0].matrix.generators[1].selector: matchExpressions[0]: operator Exists takes no values`},
		},
	})
}

// TestErrorPositions checks that errors name the generator at fault by its position.
func TestErrorPositions(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name:    "an unsupported generator",
			gens:    `[{list: {elements: []}}, {scmProvider: {github: {organization: x}}}]`,
			wantErr: []string{`generators[1]: no supported generator set`},
		},
		{
			name:    "two generators in one entry",
			gens:    `[{list: {elements: []}, git: {repoURL: x}}]`,
			wantErr: []string{`generators[0]: more than one generator set in one entry (list, git)`},
		},
		{
			name: "a git child of a second top-level matrix",
			gens: `
- list: {elements: [{a: b}]}
- matrix:
    generators:
    - git: {repoURL: "https://git.example.com/other.git", revision: main, directories: [{path: "*"}]}
    - list: {elements: [{c: d}]}
`,
			wantErr: []string{`generators[1].matrix.generators[0].git: listing the directories of https://git.example.com/other.git`},
		},
		{
			name: "a list deep in a merge and a matrix",
			gens: `
- merge:
    mergeKeys: [a]
    generators:
    - list: {elements: [{a: b}]}
    - matrix:
        generators:
        - list: {elements: [{a: b}]}
        - list: {elements: [3]}
`,
			wantErr: []string{`generators[0].merge.generators[1].matrix.generators[1].list: elements[0]: not an object but 3`},
		},
		{
			name:    "an unsupported goTemplateOptions entry",
			gens:    `[{list: {elements: []}}]`,
			goTmpl:  true,
			options: []string{"missingkey=bogus"},
			wantErr: []string{`unsupported goTemplateOptions entry "missingkey=bogus"`},
		},
	})

	t.Run("a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Generate(ctx, parseGens(t, `[{list: {elements: [{a: b}]}}]`), Inputs{})
		wantError(t, err, "generators[0]: context canceled")
	})
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"prod-us-east":     "prod-us-east",
		"Prod_US East":     "prod-us-east",
		"-My.Cluster-":     "my.cluster",
		"café/1":           "caf--1",
		"":                 "",
		"UPPER.case_Mixed": "upper.case-mixed",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
