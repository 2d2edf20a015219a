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

// fleet is a registry with the local cluster, a name to normalize and assorted labels.
var fleet = []Cluster{
	{Name: "in-cluster", Server: "https://kubernetes.default.svc"},
	{Name: "Prod_US East", Server: "https://prod-use.example.com",
		Labels:      map[string]string{"env": "prod", "region": "us-east"},
		Annotations: map[string]string{"owner": "team-a"}},
	{Name: "prod-eu", Server: "https://prod-eu.example.com",
		Labels: map[string]string{"env": "prod", "region": "eu-west", "canary": "true"}},
	{Name: "staging", Server: "https://staging.example.com",
		Labels: map[string]string{"env": "staging", "region": "us-east"}},
}

// pair is a small registry for products.
var pair = []Cluster{
	{Name: "c1", Server: "https://c1.example.com", Labels: map[string]string{"tier": "a"}},
	{Name: "c2", Server: "https://c2.example.com", Labels: map[string]string{"tier": "b"}},
}

// TestSeedApplicationSet is the seed's ApplicationSet (internal/seed/manifests): a cluster
// generator selecting production clusters, and its template rendered with each parameter set.
func TestSeedApplicationSet(t *testing.T) {
	gens := parseGens(t, `
- clusters:
    selector:
      matchLabels:
        environment: production
`)
	sets, err := Generate(t.Context(), gens, Inputs{Clusters: seedClusters})
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

func TestClusters(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name:     "an empty selector takes every cluster given, in order",
			gens:     `[{clusters: {}}]`,
			clusters: fleet,
			want: `
- {name: in-cluster, nameNormalized: in-cluster, server: "https://kubernetes.default.svc", project: ""}
- name: Prod_US East
  nameNormalized: prod-us-east
  server: https://prod-use.example.com
  project: ""
  metadata.labels.env: prod
  metadata.labels.region: us-east
  metadata.annotations.owner: team-a
- name: prod-eu
  nameNormalized: prod-eu
  server: https://prod-eu.example.com
  project: ""
  metadata.labels.env: prod
  metadata.labels.region: eu-west
  metadata.labels.canary: "true"
- name: staging
  nameNormalized: staging
  server: https://staging.example.com
  project: ""
  metadata.labels.env: staging
  metadata.labels.region: us-east
`,
		},
		{
			name: "matchExpressions In and DoesNotExist, values templated over the cluster",
			gens: `
- clusters:
    selector:
      matchExpressions:
      - {key: env, operator: In, values: [prod]}
      - {key: canary, operator: DoesNotExist}
    values:
      revision: '{{metadata.labels.region}}-main'
      fixed: stable
      unknown: '{{ nope }}'
`,
			clusters: fleet,
			want: `
- name: Prod_US East
  nameNormalized: prod-us-east
  server: https://prod-use.example.com
  project: ""
  metadata.labels.env: prod
  metadata.labels.region: us-east
  metadata.annotations.owner: team-a
  values.revision: us-east-main
  values.fixed: stable
  values.unknown: '{{ nope }}'
`,
		},
		{
			name: "matchLabels with NotIn (a missing label matches) and Exists",
			gens: `
- clusters:
    selector:
      matchLabels: {region: us-east}
      matchExpressions:
      - {key: canary, operator: NotIn, values: ["true"]}
      - {key: env, operator: Exists}
    values: {name: '{{nameNormalized}}'}
`,
			clusters: fleet,
			want: `
- name: Prod_US East
  nameNormalized: prod-us-east
  server: https://prod-use.example.com
  project: ""
  metadata.labels.env: prod
  metadata.labels.region: us-east
  metadata.annotations.owner: team-a
  values.name: prod-us-east
- name: staging
  nameNormalized: staging
  server: https://staging.example.com
  project: ""
  metadata.labels.env: staging
  metadata.labels.region: us-east
  values.name: staging
`,
		},
		{
			name: "goTemplate mode nests metadata and values",
			gens: `
- clusters:
    selector: {matchLabels: {env: prod}}
    values:
      slug: '{{ .metadata.labels.region }}-{{ .name | normalize }}'
`,
			clusters: fleet,
			goTmpl:   true,
			want: `
- name: Prod_US East
  nameNormalized: prod-us-east
  server: https://prod-use.example.com
  project: ""
  metadata:
    labels: {env: prod, region: us-east}
    annotations: {owner: team-a}
  values: {slug: us-east-prod-us-east}
- name: prod-eu
  nameNormalized: prod-eu
  server: https://prod-eu.example.com
  project: ""
  metadata:
    labels: {env: prod, region: eu-west, canary: "true"}
    annotations: {}
  values: {slug: eu-west-prod-eu}
`,
		},
		{
			name:     "a value template failing with missingkey=error names the cluster and the value",
			gens:     `[{clusters: {values: {region: '{{ .metadata.labels.region }}'}}}]`,
			clusters: fleet,
			goTmpl:   true,
			options:  []string{"missingkey=error"},
			wantErr: []string{`generators[0].clusters: cluster "in-cluster": template: values.region:`,
				`map has no entry for key "region"`},
		},
		{
			name:     "an unknown operator",
			gens:     `[{clusters: {selector: {matchExpressions: [{key: env, operator: Matches, values: [x]}]}}}]`,
			clusters: fleet,
			wantErr:  []string{`generators[0].clusters: selector: matchExpressions[0]: unknown operator "Matches"`},
		},
		{
			name:     "In without values",
			gens:     `[{clusters: {selector: {matchExpressions: [{key: env, operator: In}]}}}]`,
			clusters: fleet,
			wantErr:  []string{`generators[0].clusters: selector: matchExpressions[0]: operator In needs values`},
		},
	})
}

func TestGit(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "directories matched per segment, exclude removes",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    directories:
    - path: apps/*
    - path: apps/legacy
      exclude: true
`,
			want: `
- path: apps/My_App
  path.basename: My_App
  path.basenameNormalized: my-app
  "path[0]": apps
  "path[1]": My_App
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
`,
		},
		{
			name: "exclude wins whatever the order; pathParamPrefix",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    pathParamPrefix: app
    directories:
    - {path: apps/web, exclude: true}
    - {path: apps/*/*}
    - {path: apps/web}
`,
			want: `
- app.path: apps/web/assets
  app.path.basename: assets
  app.path.basenameNormalized: assets
  "app.path[0]": apps
  "app.path[1]": web
  "app.path[2]": assets
`,
		},
		{
			name: "goTemplate directories with values",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    directories:
    - path: apps/*
    - {path: apps/legacy, exclude: true}
    - {path: apps/My_App, exclude: true}
    values:
      namespace: '{{ .path.basename }}-ns'
`,
			goTmpl: true,
			want: `
- path: {path: apps/api, basename: api, basenameNormalized: api, segments: [apps, api]}
  values: {namespace: api-ns}
- path: {path: apps/web, basename: web, basenameNormalized: web, segments: [apps, web]}
  values: {namespace: web-ns}
`,
		},
		{
			name: "files: JSON, YAML, a list file, an empty file; exclude",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    files:
    - path: envs/*/config.*
    - path: envs/old/*
      exclude: true
`,
			want: `
- path: envs/empty
  path.basename: empty
  path.basenameNormalized: empty
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": empty
- env: prod
  replicas: "3"
  region.name: eu-west
  path: envs/prod
  path.basename: prod
  path.basenameNormalized: prod
  path.filename: config.json
  path.filenameNormalized: config.json
  "path[0]": envs
  "path[1]": prod
- env: qa1
  replicas: "1"
  path: envs/qa
  path.basename: qa
  path.basenameNormalized: qa
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": qa
- env: qa2
  replicas: "2"
  path: envs/qa
  path.basename: qa
  path.basenameNormalized: qa
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": qa
- env: staging
  replicas: "1"
  region.name: us-east
  path: envs/staging
  path.basename: staging
  path.basenameNormalized: staging
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": staging
`,
		},
		{
			name: "goTemplate files with pathParamPrefix and values",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    pathParamPrefix: cfg
    files:
    - path: envs/prod/*.json
    values:
      release: '{{ .env }}-{{ .cfg.path.filename }}'
`,
			goTmpl: true,
			want: `
- env: prod
  replicas: 3
  region: {name: eu-west}
  cfg:
    path:
      path: envs/prod
      basename: prod
      basenameNormalized: prod
      filename: config.json
      filenameNormalized: config.json
      segments: [envs, prod]
  values: {release: prod-config.json}
`,
		},
		{
			name:    "a file holding a list of scalars",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", revision: main, files: [{path: "bad/*"}]}}]`,
			wantErr: []string{`generators[0].git: file bad/config.yaml: not an object but 1`},
		},
		{
			name: "a repository the reader does not know",
			gens: `[{git: {repoURL: "https://git.example.com/other.git", revision: main, directories: [{path: "*"}]}}]`,
			wantErr: []string{`generators[0].git: listing the directories of https://git.example.com/other.git at "main": ` +
				`unknown repository https://git.example.com/other.git`},
		},
		{
			name:    "both directories and files",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "*"}], files: [{path: "*"}]}}]`,
			wantErr: []string{`generators[0].git: both directories and files are set`},
		},
		{
			name:    "neither directories nor files",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git"}}]`,
			wantErr: []string{`generators[0].git: neither directories nor files is set`},
		},
		{
			name:    "a malformed directory pattern",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "apps/*"}, {path: "apps/["}]}}]`,
			wantErr: []string{`generators[0].git: directories[1]: pattern "apps/[": syntax error in pattern`},
		},
	})

	t.Run("no repository reader", func(t *testing.T) {
		gens := parseGens(t, `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "*"}]}}]`)
		_, err := Generate(t.Context(), gens, Inputs{})
		wantError(t, err, "generators[0].git: no repository reader configured")
	})
}

func TestMatrix(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "git directories × clusters × list",
			gens: `
- matrix:
    generators:
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        directories:
        - path: apps/*
        - {path: apps/legacy, exclude: true}
        - {path: apps/My_App, exclude: true}
    - clusters: {}
    - list:
        elements:
        - team: core
`,
			clusters: pair,
			want: `
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
  name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata.labels.tier: a
  team: core
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
  name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata.labels.tier: b
  team: core
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
  name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata.labels.tier: a
  team: core
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
  name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata.labels.tier: b
  team: core
`,
		},
		{
			name: "a later child's spec uses an earlier child's parameters; equal values do not conflict",
			gens: `
- matrix:
    generators:
    - list:
        elements: [{env: prod}, {env: staging}]
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        files:
        - path: 'envs/{{env}}/config.*'
`,
			want: `
- env: prod
  replicas: "3"
  region.name: eu-west
  path: envs/prod
  path.basename: prod
  path.basenameNormalized: prod
  path.filename: config.json
  path.filenameNormalized: config.json
  "path[0]": envs
  "path[1]": prod
- env: staging
  replicas: "1"
  region.name: us-east
  path: envs/staging
  path.basename: staging
  path.basenameNormalized: staging
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": staging
`,
		},
		{
			name: "nested matrices see the outer and the earlier sibling parameters",
			gens: `
- matrix:
    generators:
    - list:
        elements: [{a: "1"}, {a: "2"}]
    - matrix:
        generators:
        - list:
            elements: [{b: x}]
        - matrix:
            generators:
            - list:
                elements: [{c: '{{a}}-{{b}}'}]
            - list:
                elements: [{d: '{{c}}!'}, {d: '{{ c }}?'}]
`,
			want: `
- {a: "1", b: x, c: 1-x, d: "1-x!"}
- {a: "1", b: x, c: 1-x, d: "1-x?"}
- {a: "2", b: x, c: 2-x, d: "2-x!"}
- {a: "2", b: x, c: 2-x, d: "2-x?"}
`,
		},
		{
			name: "goTemplate: a later child uses structured parameters",
			gens: `
- matrix:
    generators:
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        directories: [{path: apps/a*}]
    - list:
        elements:
        - app: '{{ .path.basename | upper }}'
          replicas: 2
`,
			goTmpl: true,
			want: `
- path: {path: apps/api, basename: api, basenameNormalized: api, segments: [apps, api]}
  app: API
  replicas: 2
`,
		},
		{
			name: "goTemplate: nested objects combine key by key",
			gens: `
- matrix:
    generators:
    - list: {elements: [{meta: {x: 1}}]}
    - list: {elements: [{meta: {y: 2}}]}
`,
			goTmpl: true,
			want:   `[{meta: {x: 1, y: 2}}]`,
		},
		{
			name: "conflicting values name the key and the child",
			gens: `
- matrix:
    generators:
    - list: {elements: [{name: a}]}
    - list: {elements: [{name: b}]}
`,
			wantErr: []string{`generators[0].matrix.generators[1]: parameter "name" has conflicting values "a" (earlier generator) and "b"`},
		},
		{
			name: "goTemplate: conflicting nested values",
			gens: `
- matrix:
    generators:
    - list: {elements: [{meta: {x: 1, y: 1}}]}
    - list: {elements: [{meta: {x: 2}}]}
`,
			goTmpl:  true,
			wantErr: []string{`generators[0].matrix.generators[1]: parameter "meta.x" has conflicting values 1 (earlier generator) and 2`},
		},
		{
			name:    "fewer than two generators",
			gens:    `[{matrix: {generators: [{list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].matrix: needs at least two generators, has 1`},
		},
		{
			name: "templating a child's spec fails with missingkey=error",
			gens: `
- matrix:
    generators:
    - list: {elements: [{a: "1"}]}
    - list: {elements: [{b: '{{ .nope }}'}]}
`,
			goTmpl:  true,
			options: []string{"missingkey=error"},
			wantErr: []string{
				`generators[0].matrix.generators[1].list: templating the spec with earlier generators' parameters: template: list.elements[0].b:`,
				`map has no entry for key "nope"`,
			},
		},
	})
}

func TestMerge(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "two generators on one key; later sets without a base match are dropped",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list:
        elements:
        - {name: a, replicas: "1"}
        - {name: b, replicas: "1"}
        - {name: c, replicas: "1"}
    - list:
        elements:
        - {name: b, replicas: "3", extra: "yes"}
        - {name: z, replicas: "9"}
`,
			want: `
- {name: a, replicas: "1"}
- {name: b, replicas: "3", extra: "yes"}
- {name: c, replicas: "1"}
`,
		},
		{
			name: "three generators override in order",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - clusters: {}
    - list: {elements: [{name: c2, replicas: "3"}]}
    - list: {elements: [{name: c2, replicas: "5", zone: z1}, {name: c1, zone: z0}]}
`,
			clusters: pair,
			want: `
- {name: c1, nameNormalized: c1, server: "https://c1.example.com", project: "", metadata.labels.tier: a, zone: z0}
- {name: c2, nameNormalized: c2, server: "https://c2.example.com", project: "", metadata.labels.tier: b, replicas: "5", zone: z1}
`,
		},
		{
			name: "two merge keys",
			gens: `
- merge:
    mergeKeys: [app, env]
    generators:
    - list:
        elements:
        - {app: web, env: prod, size: s}
        - {app: web, env: dev, size: s}
        - {app: api, env: prod, size: s}
    - list:
        elements:
        - {app: web, env: prod, size: l}
        - {app: api, env: dev, size: xl}
`,
			want: `
- {app: web, env: prod, size: l}
- {app: web, env: dev, size: s}
- {app: api, env: prod, size: s}
`,
		},
		{
			name: "a merge nested in a matrix sees the earlier children's parameters",
			gens: `
- matrix:
    generators:
    - list: {elements: [{env: prod}]}
    - merge:
        mergeKeys: [name]
        generators:
        - clusters: {}
        - list: {elements: [{name: c2, note: '{{env}}-only'}]}
`,
			clusters: pair,
			want: `
- {env: prod, name: c1, nameNormalized: c1, server: "https://c1.example.com", project: "", metadata.labels.tier: a}
- {env: prod, name: c2, nameNormalized: c2, server: "https://c2.example.com", project: "", metadata.labels.tier: b, note: prod-only}
`,
		},
		{
			name: "goTemplate: a dotted merge key reaches into nested parameters; overrides merge deeply",
			gens: `
- merge:
    mergeKeys: [metadata.labels.tier]
    generators:
    - clusters: {}
    - list:
        elements:
        - metadata: {labels: {tier: b, extra: "1"}}
          replicas: 5
`,
			clusters: pair,
			goTmpl:   true,
			want: `
- name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata: {labels: {tier: a}, annotations: {}}
- name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata: {labels: {tier: b, extra: "1"}, annotations: {}}
  replicas: 5
`,
		},
		{
			name: "a base set without a merge key",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list: {elements: [{name: a}, {other: b}]}
    - list: {elements: [{name: a}]}
`,
			wantErr: []string{`generators[0].merge.generators[0]: parameter set 1 has no merge key "name"`},
		},
		{
			name: "duplicate merge key values",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list: {elements: [{name: a}]}
    - list: {elements: [{name: b, x: "1"}, {name: b, x: "2"}]}
`,
			wantErr: []string{`generators[0].merge.generators[1]: parameter sets 0 and 1 have the same merge key values ["b"]`},
		},
		{
			name:    "no merge keys",
			gens:    `[{merge: {generators: [{list: {elements: [{a: b}]}}, {list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].merge: mergeKeys is empty`},
		},
		{
			name:    "fewer than two generators",
			gens:    `[{merge: {mergeKeys: [a], generators: [{list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].merge: needs at least two generators, has 1`},
		},
	})
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
