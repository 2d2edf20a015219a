package appset

import (
	"testing"
)

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
