package validate

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// securityObject parses one YAML manifest into an object.
func securityObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("parse %q: %v", doc, err)
	}
	return &unstructured.Unstructured{Object: m}
}

// securityDeployment wraps a pod spec, given as YAML, in a Deployment.
func securityDeployment(t *testing.T, podSpec string) *unstructured.Unstructured {
	t.Helper()
	obj := securityObject(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec: {}\n")
	spec := securityObject(t, podSpec).Object
	if spec == nil {
		spec = map[string]any{}
	}
	if err := unstructured.SetNestedMap(obj.Object, spec, "spec", "template", "spec"); err != nil {
		t.Fatal(err)
	}
	return obj
}

// securityMessages returns the messages of the findings of rule.
func securityMessages(findings []Finding, rule string) []string {
	var msgs []string
	for _, f := range findings {
		if f.Rule == rule {
			msgs = append(msgs, f.Message)
		}
	}
	return msgs
}

// securityRuleIDs returns the rule of each finding, in order.
func securityRuleIDs(findings []Finding) []string {
	ids := make([]string, len(findings))
	for i, f := range findings {
		ids[i] = f.Rule
	}
	return ids
}

// securityCleanPod passes every rule, and uses every container list.
const securityCleanPod = `
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
volumes:
- name: tmp
  emptyDir: {}
- name: config
  configMap: {name: app}
initContainers:
- name: setup
  image: registry.example.com:5000/tools/setup@sha256:4f2a3c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f
  securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
  resources: {limits: {cpu: 100m, memory: 64Mi}, requests: {cpu: 50m, memory: 32Mi}}
containers:
- name: app
  image: ghcr.io/ferrycd/app:1.4.2
  securityContext:
    privileged: false
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
  resources: {limits: {cpu: 500m, memory: 256Mi}, requests: {cpu: 100m, memory: 128Mi}}
  env:
  - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
  - {name: API_TOKEN, value: ""}
  - {name: LOG_LEVEL, value: debug}
  volumeMounts:
  - {name: tmp, mountPath: /tmp}
ephemeralContainers:
- name: debug
  image: busybox:1.36
  securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
`

func TestSecurityRules(t *testing.T) {
	rules := SecurityRules()
	if len(rules) != 14 {
		t.Fatalf("got %d rules, want 14", len(rules))
	}
	for i, r := range rules {
		if want := fmt.Sprintf("FERRY-SEC-%03d", i+1); r.ID != want {
			t.Errorf("rule %d: ID %q, want %q", i, r.ID, want)
		}
		if r.Title == "" || r.Fix == "" {
			t.Errorf("%s: empty title or fix: %+v", r.ID, r)
		}
		if !slices.Contains([]Severity{SeverityError, SeverityWarning, SeverityInfo}, r.Severity) {
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
	}
	rules[0].Severity = SeverityInfo
	if SecurityRules()[0].Severity != SeverityError {
		t.Error("SecurityRules returns the package's own slice")
	}
}

func TestCheckSecurityCleanObject(t *testing.T) {
	if got := CheckSecurity(securityDeployment(t, securityCleanPod), SecurityOptions{}); len(got) != 0 {
		t.Errorf("clean object: got findings %+v", got)
	}
}

func TestCheckSecurityRules(t *testing.T) {
	tests := []struct {
		name string
		rule string
		pod  string
		want []string // nil: the rule must not fire
	}{
		{"privileged", "FERRY-SEC-001", `
containers:
- {name: app, image: app:1, securityContext: {privileged: true}}`,
			[]string{`container "app": securityContext.privileged is true`}},
		{"not privileged", "FERRY-SEC-001", `
containers:
- {name: app, image: app:1, securityContext: {privileged: false}}
- {name: side, image: side:1}`, nil},

		{"escalation unset", "FERRY-SEC-002", `
containers:
- {name: app, image: app:1}`,
			[]string{`container "app": securityContext.allowPrivilegeEscalation is not set (it defaults to true)`}},
		{"escalation true", "FERRY-SEC-002", `
containers:
- {name: app, image: app:1, securityContext: {allowPrivilegeEscalation: true}}`,
			[]string{`container "app": securityContext.allowPrivilegeEscalation is true`}},
		{"escalation false", "FERRY-SEC-002", `
containers:
- {name: app, image: app:1, securityContext: {allowPrivilegeEscalation: false}}`, nil},

		{"runAsNonRoot unset", "FERRY-SEC-003", `
containers:
- {name: app, image: app:1}`,
			[]string{`container "app": securityContext.runAsNonRoot is not set in the container nor in spec.template.spec.securityContext`}},
		{"runAsNonRoot pod false", "FERRY-SEC-003", `
securityContext: {runAsNonRoot: false}
containers:
- {name: app, image: app:1}`,
			[]string{`container "app": spec.template.spec.securityContext.runAsNonRoot is false and the container does not override it`}},
		{"runAsNonRoot container overrides pod true", "FERRY-SEC-003", `
securityContext: {runAsNonRoot: true}
containers:
- {name: app, image: app:1, securityContext: {runAsNonRoot: false}}
- {name: side, image: side:1}`,
			[]string{`container "app": securityContext.runAsNonRoot is false`}},
		{"runAsNonRoot pod true", "FERRY-SEC-003", `
securityContext: {runAsNonRoot: true}
containers:
- {name: app, image: app:1}`, nil},
		{"runAsNonRoot container overrides pod false", "FERRY-SEC-003", `
securityContext: {runAsNonRoot: false}
containers:
- {name: app, image: app:1, securityContext: {runAsNonRoot: true}}`, nil},

		{"root filesystem unset", "FERRY-SEC-004", `
containers:
- {name: app, image: app:1}`,
			[]string{`container "app": securityContext.readOnlyRootFilesystem is not set (it defaults to false)`}},
		{"root filesystem writable", "FERRY-SEC-004", `
containers:
- {name: app, image: app:1, securityContext: {readOnlyRootFilesystem: false}}`,
			[]string{`container "app": securityContext.readOnlyRootFilesystem is false`}},
		{"root filesystem read-only", "FERRY-SEC-004", `
containers:
- {name: app, image: app:1, securityContext: {readOnlyRootFilesystem: true}}`, nil},

		{"dangerous capabilities", "FERRY-SEC-005", `
containers:
- {name: app, image: app:1, securityContext: {capabilities: {add: [sys_admin, CAP_NET_RAW, NET_BIND_SERVICE, All]}}}
- {name: side, image: side:1, securityContext: {capabilities: {add: [cap_sys_ptrace]}}}`,
			[]string{
				`container "app": securityContext.capabilities.add includes sys_admin, CAP_NET_RAW, All`,
				`container "side": securityContext.capabilities.add includes cap_sys_ptrace`,
			}},
		{"every dangerous capability", "FERRY-SEC-005", `
containers:
- {name: app, image: app:1, securityContext: {capabilities: {add: [SYS_ADMIN, NET_ADMIN, NET_RAW, SYS_PTRACE, SYS_MODULE, DAC_READ_SEARCH, ALL]}}}`,
			[]string{`container "app": securityContext.capabilities.add includes SYS_ADMIN, NET_ADMIN, NET_RAW, SYS_PTRACE, SYS_MODULE, DAC_READ_SEARCH, ALL`}},
		{"harmless capabilities", "FERRY-SEC-005", `
containers:
- {name: app, image: app:1, securityContext: {capabilities: {add: [NET_BIND_SERVICE, CHOWN], drop: [ALL]}}}`, nil},

		{"hostNetwork", "FERRY-SEC-006", `
hostNetwork: true
containers:
- {name: app, image: app:1}`,
			[]string{`spec.template.spec.hostNetwork is true`}},
		{"no hostNetwork", "FERRY-SEC-006", `
hostNetwork: false
containers:
- {name: app, image: app:1}`, nil},

		{"hostPID", "FERRY-SEC-007", `
hostPID: true
containers:
- {name: app, image: app:1}`,
			[]string{`spec.template.spec.hostPID is true`}},
		{"no hostPID", "FERRY-SEC-007", `
hostPID: false
containers:
- {name: app, image: app:1}`, nil},

		{"hostIPC", "FERRY-SEC-008", `
hostIPC: true
containers:
- {name: app, image: app:1}`,
			[]string{`spec.template.spec.hostIPC is true`}},
		{"no hostIPC", "FERRY-SEC-008", `
containers:
- {name: app, image: app:1}`, nil},

		{"hostPath volumes", "FERRY-SEC-009", `
volumes:
- {name: tmp, emptyDir: {}}
- {name: docker, hostPath: {path: /var/run/docker.sock, type: Socket}}
- {name: logs, hostPath: {path: /var/log}}
containers:
- {name: app, image: app:1}`,
			[]string{
				`volume "docker" mounts host path "/var/run/docker.sock" (spec.template.spec.volumes[1].hostPath)`,
				`volume "logs" mounts host path "/var/log" (spec.template.spec.volumes[2].hostPath)`,
			}},
		{"no hostPath volume", "FERRY-SEC-009", `
volumes:
- {name: tmp, emptyDir: {}}
- {name: data, persistentVolumeClaim: {claimName: data}}
containers:
- {name: app, image: app:1}`, nil},

		{"no limits", "FERRY-SEC-010", `
containers:
- {name: app, image: app:1}
- {name: side, image: side:1, resources: {limits: {cpu: 100m}}}`,
			[]string{
				`container "app": resources.limits.cpu and resources.limits.memory are not set`,
				`container "side": resources.limits.memory is not set`,
			}},
		{"limits", "FERRY-SEC-010", `
containers:
- {name: app, image: app:1, resources: {limits: {cpu: 1, memory: 1Gi}}}`, nil},
		{"pod-level limits", "FERRY-SEC-010", `
resources: {limits: {cpu: 1, memory: 1Gi}}
containers:
- {name: app, image: app:1}`, nil},
		{"no limits for ephemeral containers", "FERRY-SEC-010", `
containers:
- {name: app, image: app:1, resources: {limits: {cpu: 1, memory: 1Gi}}}
ephemeralContainers:
- {name: debug, image: busybox:1.36}`, nil},

		{"no requests", "FERRY-SEC-011", `
containers:
- {name: app, image: app:1, resources: {limits: {cpu: 1, memory: 1Gi}}}
- {name: side, image: side:1, resources: {requests: {memory: 64Mi}}}`,
			[]string{
				`container "app": resources.requests.cpu and resources.requests.memory are not set`,
				`container "side": resources.requests.cpu is not set`,
			}},
		{"requests", "FERRY-SEC-011", `
containers:
- {name: app, image: app:1, resources: {requests: {cpu: 100m, memory: 64Mi}}}`, nil},

		{"unpinned images", "FERRY-SEC-012", `
containers:
- {name: latest, image: app:latest}
- {name: bare, image: nginx}
- {name: port, image: "registry:5000/app"}
- {name: nested, image: "registry.example.com:5000/team/app:latest"}`,
			[]string{
				`container "latest": image "app:latest" uses the latest tag`,
				`container "bare": image "nginx" has no tag nor digest, so it pulls latest`,
				`container "port": image "registry:5000/app" has no tag nor digest, so it pulls latest`,
				`container "nested": image "registry.example.com:5000/team/app:latest" uses the latest tag`,
			}},
		{"pinned images", "FERRY-SEC-012", `
containers:
- {name: tag, image: app:1.2.3}
- {name: port, image: "registry:5000/app:1.0"}
- {name: digest, image: "app@sha256:4f2a3c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f"}
- {name: latest-digest, image: "registry:5000/app:latest@sha256:4f2a3c1d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f"}`, nil},

		{"secret env literals", "FERRY-SEC-013", `
containers:
- name: app
  image: app:1
  env:
  - {name: LOG_LEVEL, value: debug}
  - {name: DB_PASSWORD, value: hunter2}
  - {name: github_token, value: ghp_abc}
  - {name: Stripe-ApiKey, value: sk_live_x}
- name: side
  image: side:1
  env:
  - {name: AWS_CREDENTIALS, value: "x"}
  - {name: TLS_PRIVATE_KEY, value: "-----BEGIN"}
  - {name: CLIENT_SECRET, value: "s"}
  - {name: X_API_KEY, value: "k"}`,
			[]string{
				`container "app": env[1] "DB_PASSWORD" has a literal value instead of valueFrom.secretKeyRef`,
				`container "app": env[2] "github_token" has a literal value instead of valueFrom.secretKeyRef`,
				`container "app": env[3] "Stripe-ApiKey" has a literal value instead of valueFrom.secretKeyRef`,
				`container "side": env[0] "AWS_CREDENTIALS" has a literal value instead of valueFrom.secretKeyRef`,
				`container "side": env[1] "TLS_PRIVATE_KEY" has a literal value instead of valueFrom.secretKeyRef`,
				`container "side": env[2] "CLIENT_SECRET" has a literal value instead of valueFrom.secretKeyRef`,
				`container "side": env[3] "X_API_KEY" has a literal value instead of valueFrom.secretKeyRef`,
			}},
		{"secret env references", "FERRY-SEC-013", `
containers:
- name: app
  image: app:1
  env:
  - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
  - {name: API_TOKEN, value: ""}
  - {name: SECRETLESS}
  - {name: LOG_LEVEL, value: debug}`, nil},

		{"token automount unset", "FERRY-SEC-014", `
containers:
- {name: app, image: app:1}`,
			[]string{`spec.template.spec.automountServiceAccountToken is not set (it defaults to true)`}},
		{"token automount true", "FERRY-SEC-014", `
automountServiceAccountToken: true
containers:
- {name: app, image: app:1}`,
			[]string{`spec.template.spec.automountServiceAccountToken is true`}},
		{"token automount false", "FERRY-SEC-014", `
automountServiceAccountToken: false
containers:
- {name: app, image: app:1}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			got := securityMessages(CheckSecurity(securityDeployment(t, tt.pod), SecurityOptions{}), tt.rule)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s messages:\ngot  %q\nwant %q", tt.rule, got, tt.want)
			}
		})
	}
}

func TestCheckSecurityFindingFields(t *testing.T) {
	rules := map[string]SecurityRule{}
	for _, r := range SecurityRules() {
		rules[r.ID] = r
	}
	findings := CheckSecurity(securityDeployment(t, `
hostNetwork: true
hostPID: true
hostIPC: true
volumes:
- {name: root, hostPath: {path: /}}
containers:
- name: app
  image: app
  securityContext: {privileged: true, capabilities: {add: [SYS_ADMIN]}}
  env:
  - {name: PASSWORD, value: x}`), SecurityOptions{})
	seen := map[string]bool{}
	for _, f := range findings {
		r, ok := rules[f.Rule]
		if !ok {
			t.Errorf("finding of unknown rule: %+v", f)
			continue
		}
		seen[f.Rule] = true
		if f.Severity != r.Severity || f.Fix != r.Fix || f.Message == "" {
			t.Errorf("finding %+v does not carry rule %+v", f, r)
		}
		if f.File != "" || f.Line != 0 || f.Object != "" || f.Unit != "" {
			t.Errorf("finding %+v sets caller fields", f)
		}
	}
	if len(seen) != len(rules) {
		t.Errorf("rules fired: %v, want all %d", seen, len(rules))
	}
}

func TestCheckSecurityOrder(t *testing.T) {
	findings := CheckSecurity(securityDeployment(t, `
automountServiceAccountToken: false
securityContext: {runAsNonRoot: true}
ephemeralContainers:
- {name: debug, image: busybox:1.36, securityContext: {privileged: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}}
initContainers:
- {name: setup, image: setup:1, securityContext: {privileged: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}}
containers:
- {name: b, image: b:1, securityContext: {privileged: true, readOnlyRootFilesystem: true}}
- {name: a, image: a:1, securityContext: {privileged: true, allowPrivilegeEscalation: false}}`),
		SecurityOptions{Levels: map[string]Severity{"FERRY-SEC-010": "off", "FERRY-SEC-011": "off"}})
	want := []string{
		`FERRY-SEC-001 container "b": securityContext.privileged is true`,
		`FERRY-SEC-001 container "a": securityContext.privileged is true`,
		`FERRY-SEC-001 init container "setup": securityContext.privileged is true`,
		`FERRY-SEC-001 ephemeral container "debug": securityContext.privileged is true`,
		`FERRY-SEC-002 container "b": securityContext.allowPrivilegeEscalation is not set (it defaults to true)`,
		`FERRY-SEC-004 container "a": securityContext.readOnlyRootFilesystem is not set (it defaults to false)`,
	}
	var got []string
	for _, f := range findings {
		got = append(got, f.Rule+" "+f.Message)
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\ngot  %q\nwant %q", got, want)
	}
}

func TestCheckSecurityLevels(t *testing.T) {
	pod := `
containers:
- {name: app, image: app:latest, securityContext: {privileged: true}}`
	tests := []struct {
		name   string
		levels map[string]Severity
		want   map[string]Severity // rule -> level; a missing rule must not fire
	}{
		{"defaults", nil, map[string]Severity{
			"FERRY-SEC-001": SeverityError, "FERRY-SEC-004": SeverityWarning, "FERRY-SEC-012": SeverityWarning, "FERRY-SEC-014": SeverityInfo,
		}},
		{"overrides", map[string]Severity{
			"FERRY-SEC-001": SeverityInfo, "FERRY-SEC-004": SeverityError, "FERRY-SEC-014": SeverityWarning,
		}, map[string]Severity{
			"FERRY-SEC-001": SeverityInfo, "FERRY-SEC-004": SeverityError, "FERRY-SEC-012": SeverityWarning, "FERRY-SEC-014": SeverityWarning,
		}},
		{"off", map[string]Severity{
			"FERRY-SEC-001": "off", "FERRY-SEC-012": Severity("off"),
		}, map[string]Severity{
			"FERRY-SEC-004": SeverityWarning, "FERRY-SEC-014": SeverityInfo,
		}},
		{"unknown level keeps the default", map[string]Severity{
			"FERRY-SEC-001": "fatal", "FERRY-SEC-004": "",
		}, map[string]Severity{
			"FERRY-SEC-001": SeverityError, "FERRY-SEC-004": SeverityWarning, "FERRY-SEC-012": SeverityWarning, "FERRY-SEC-014": SeverityInfo,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			findings := CheckSecurity(securityDeployment(t, pod), SecurityOptions{Levels: tt.levels})
			for _, rule := range []string{"FERRY-SEC-001", "FERRY-SEC-004", "FERRY-SEC-012", "FERRY-SEC-014"} {
				var levels []Severity
				for _, f := range findings {
					if f.Rule == rule {
						levels = append(levels, f.Severity)
					}
				}
				want, on := tt.want[rule]
				switch {
				case !on && len(levels) != 0:
					t.Errorf("%s: got %v, want off", rule, levels)
				case on && !slices.Equal(levels, []Severity{want}):
					t.Errorf("%s: got %v, want [%s]", rule, levels, want)
				}
			}
		})
	}
}

func TestCheckSecurityIgnoreAnnotation(t *testing.T) {
	withAnnotations := func(t *testing.T, annotations map[string]string) *unstructured.Unstructured {
		obj := securityDeployment(t, `
containers:
- {name: app, image: app:latest, securityContext: {privileged: true}}`)
		obj.SetAnnotations(annotations)
		return obj
	}
	t.Run("with reason", func(t *testing.T) {
		findings := CheckSecurity(withAnnotations(t, map[string]string{
			IgnoreAnnotationPrefix + "FERRY-SEC-001": "the CNI agent needs it",
			IgnoreAnnotationPrefix + "FERRY-SEC-012": "mirrored nightly build",
		}), SecurityOptions{})
		ids := securityRuleIDs(findings)
		for _, id := range []string{"FERRY-SEC-000", "FERRY-SEC-001", "FERRY-SEC-012"} {
			if slices.Contains(ids, id) {
				t.Errorf("%s reported despite the suppression: %+v", id, findings)
			}
		}
		if !slices.Contains(ids, "FERRY-SEC-004") {
			t.Errorf("suppressing two rules silenced others: %v", ids)
		}
	})
	t.Run("without reason", func(t *testing.T) {
		findings := CheckSecurity(withAnnotations(t, map[string]string{
			IgnoreAnnotationPrefix + "FERRY-SEC-012": " \t",
			IgnoreAnnotationPrefix + "FERRY-SEC-001": "",
		}), SecurityOptions{Levels: map[string]Severity{"FERRY-SEC-000": "off"}})
		var problems []Finding
		for _, f := range findings {
			if f.Rule == "FERRY-SEC-000" {
				problems = append(problems, f)
			}
		}
		if len(problems) != 2 || findings[0].Rule != "FERRY-SEC-000" || findings[1].Rule != "FERRY-SEC-000" {
			t.Fatalf("want two FERRY-SEC-000 findings first, got %+v", findings)
		}
		for i, id := range []string{"FERRY-SEC-001", "FERRY-SEC-012"} {
			if problems[i].Severity != SeverityError || !strings.Contains(problems[i].Message, "suppression of "+id+" needs a reason") {
				t.Errorf("problem %d: %+v", i, problems[i])
			}
		}
		ids := securityRuleIDs(findings)
		if !slices.Contains(ids, "FERRY-SEC-001") || !slices.Contains(ids, "FERRY-SEC-012") {
			t.Errorf("suppression without reason was honoured: %v", ids)
		}
	})
	t.Run("other annotations", func(t *testing.T) {
		findings := CheckSecurity(withAnnotations(t, map[string]string{
			IgnoreAnnotationPrefix + "schema": "",
			"validate.ferry.dev/other":        "",
			"FERRY-SEC-001":                   "not the prefix",
		}), SecurityOptions{})
		ids := securityRuleIDs(findings)
		if slices.Contains(ids, "FERRY-SEC-000") || !slices.Contains(ids, "FERRY-SEC-001") {
			t.Errorf("unrelated annotations changed the findings: %v", ids)
		}
	})
}

func TestCheckSecurityNoPodSpec(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"ConfigMap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data: {DB_PASSWORD: hunter2, hostNetwork: "true"}`, nil},
		{"ConfigMap with a suppression without reason", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  annotations: {validate.ferry.dev/ignore.FERRY-SEC-013: ""}`, []string{"FERRY-SEC-000"}},
		{"Deployment without template", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec: {replicas: 1}`, nil},
		{"Deployment of another group", `
apiVersion: example.com/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      hostNetwork: true
      containers: [{name: app, image: app:latest}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := securityRuleIDs(CheckSecurity(securityObject(t, tt.doc), SecurityOptions{})); !slices.Equal(got, tt.want) {
				t.Errorf("got rules %v, want %v", got, tt.want)
			}
		})
	}
	if got := CheckSecurity(nil, SecurityOptions{}); got != nil {
		t.Errorf("nil object: %+v", got)
	}
}

func TestCheckSecurityKinds(t *testing.T) {
	pod := `{hostPID: true, initContainers: [{name: setup, image: "setup:1", securityContext: {privileged: true}}], containers: [{name: app, image: "app:1"}]}`
	tests := []struct {
		apiVersion, kind, doc, path string
	}{
		{"v1", "Pod", "spec: " + pod, "spec"},
		{"v1", "PodTemplate", "template: {spec: " + pod + "}", "template.spec"},
		{"v1", "ReplicationController", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"apps/v1", "Deployment", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"apps/v1", "StatefulSet", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"apps/v1", "DaemonSet", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"apps/v1", "ReplicaSet", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"batch/v1", "Job", "spec: {template: {spec: " + pod + "}}", "spec.template.spec"},
		{"batch/v1", "CronJob", "spec: {schedule: '@daily', jobTemplate: {spec: {template: {spec: " + pod + "}}}}", "spec.jobTemplate.spec.template.spec"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			obj := securityObject(t, "apiVersion: "+tt.apiVersion+"\nkind: "+tt.kind+"\nmetadata: {name: x}\n"+tt.doc)
			findings := CheckSecurity(obj, SecurityOptions{})
			if got, want := securityMessages(findings, "FERRY-SEC-007"), []string{tt.path + ".hostPID is true"}; !slices.Equal(got, want) {
				t.Errorf("FERRY-SEC-007: got %q, want %q", got, want)
			}
			if got, want := securityMessages(findings, "FERRY-SEC-001"), []string{`init container "setup": securityContext.privileged is true`}; !slices.Equal(got, want) {
				t.Errorf("FERRY-SEC-001: got %q, want %q", got, want)
			}
		})
	}
}

func TestCheckSecurityEnvValueNotLeaked(t *testing.T) {
	const secret = "hunter2-Sup3rS3cret"
	obj := securityDeployment(t, `
containers:
- name: app
  image: app:latest
  env:
  - {name: DB_PASSWORD, value: `+secret+`}
  - {name: SESSION_TOKEN, value: "`+secret+`"}
  - {name: GREETING, value: `+secret+`}
initContainers:
- name: setup
  image: setup
  env:
  - {name: api_key, value: `+secret+`}`)
	obj.SetAnnotations(map[string]string{IgnoreAnnotationPrefix + "FERRY-SEC-001": ""})
	for _, opts := range []SecurityOptions{{}, {Levels: map[string]Severity{"FERRY-SEC-013": SeverityWarning}}} {
		findings := CheckSecurity(obj, opts)
		if n := len(securityMessages(findings, "FERRY-SEC-013")); n != 3 {
			t.Errorf("got %d FERRY-SEC-013 findings, want 3: %+v", n, findings)
		}
		if dump := fmt.Sprintf("%+v", findings); strings.Contains(dump, secret) || strings.Contains(dump, "hunter2") {
			t.Errorf("findings leak the value: %s", dump)
		}
	}
}

func TestCheckSecurityNonJSONValues(t *testing.T) {
	// Objects built in Go may hold plain ints; they must not panic and an
	// int literal is still a literal.
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "x"},
		"spec": map[string]any{
			"containers": []any{map[string]any{
				"name":  "app",
				"image": "app:1",
				"env":   []any{map[string]any{"name": "PIN_SECRET", "value": 1234}},
				"resources": map[string]any{
					"limits": map[string]any{"cpu": 1, "memory": "1Gi"},
				},
			}},
		},
	}}
	findings := CheckSecurity(obj, SecurityOptions{})
	if got := securityMessages(findings, "FERRY-SEC-013"); len(got) != 1 || strings.Contains(got[0], "1234") {
		t.Errorf("FERRY-SEC-013: %q", got)
	}
	if got := securityMessages(findings, "FERRY-SEC-010"); got != nil {
		t.Errorf("FERRY-SEC-010: %q", got)
	}
}

func TestSecurityImageReference(t *testing.T) {
	tests := []struct {
		image  string
		tag    string
		digest bool
	}{
		{"app", "", false},
		{"app:latest", "latest", false},
		{"app:1.2", "1.2", false},
		{"registry:5000/app", "", false},
		{"registry:5000/team/app:v1", "v1", false},
		{"app@sha256:abc", "", true},
		{"registry:5000/app:latest@sha256:abc", "latest", true},
	}
	for _, tt := range tests {
		if tag, digest := imageReference(tt.image); tag != tt.tag || digest != tt.digest {
			t.Errorf("imageReference(%q) = %q, %v; want %q, %v", tt.image, tag, digest, tt.tag, tt.digest)
		}
	}
}
