package sync

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// object builds an object from "Kind ns/name" and annotations.
func object(t *testing.T, ref string, annotations map[string]string) *unstructured.Unstructured {
	t.Helper()
	kind, nn, _ := strings.Cut(ref, " ")
	ns, name, ok := strings.Cut(nn, "/")
	if !ok {
		ns, name = "", nn
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(map[string]string{"Deployment": "apps/v1", "Job": "batch/v1"}[kind])
	if u.GetAPIVersion() == "" {
		u.SetAPIVersion("v1")
	}
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if len(annotations) > 0 {
		u.SetAnnotations(annotations)
	}
	return u
}

func wave(w string) map[string]string { return map[string]string{SyncWaveAnnotation: w} }

// describe renders steps as "Phase wave: Kind name, ..." lines.
func describe(steps []Step) []string {
	var out []string
	for _, s := range steps {
		var names []string
		for _, t := range s.Tasks {
			names = append(names, t.Key.Kind+" "+t.Key.Name)
		}
		prefix := fmt.Sprintf("%s %d", s.Phase, s.Wave)
		if s.Prune {
			prefix = "prune " + prefix
		}
		out = append(out, prefix+": "+strings.Join(names, ", "))
	}
	return out
}

func TestStepsOrder(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) StepsInput
		want []string
	}{
		{
			name: "phase, then wave, then kind, then name; negative waves first",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: []*unstructured.Unstructured{
					object(t, "Deployment ns/web", nil),
					object(t, "ConfigMap ns/b", nil),
					object(t, "ConfigMap ns/a", nil),
					object(t, "Service ns/web", wave("-2")),
					object(t, "Job ns/smoke", map[string]string{HookAnnotation: "PostSync"}),
					object(t, "Job ns/migrate", map[string]string{HookAnnotation: "PreSync", SyncWaveAnnotation: "5"}),
					object(t, "Namespace ns", wave("10")),
				}}
			},
			want: []string{
				"PreSync 4: Namespace ns",
				"PreSync 5: Job migrate",
				"Sync -2: Service web",
				"Sync 0: ConfigMap a, ConfigMap b, Deployment web",
				"PostSync 0: Job smoke",
			},
		},
		{
			name: "the seed's sync-wave manifests (Argo CD's phase-first order)",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: seedWaves(t)}
			},
			want: []string{
				"PreSync -1: Namespace myapp",
				"PreSync 1: Job db-migrate",
				"Sync 0: ConfigMap myapp-config",
				"Sync 2: Deployment myapp",
			},
		},
		{
			name: "unknown kinds after known ones; ties by name",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: []*unstructured.Unstructured{
					object(t, "Widget ns/a", nil), object(t, "Ingress ns/z", nil), object(t, "Secret ns/y", nil),
				}}
			},
			want: []string{"Sync 0: Secret y, Ingress z, Widget a"},
		},
		{
			name: "Skip leaves the object out; a hook may run in two phases",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: []*unstructured.Unstructured{
					object(t, "ConfigMap ns/skipped", map[string]string{HookAnnotation: "Skip"}),
					object(t, "Pod ns/check", map[string]string{HookAnnotation: "PreSync,PostSync"}),
					object(t, "ConfigMap ns/app", nil),
				}}
			},
			want: []string{"PreSync 0: Pod check", "Sync 0: ConfigMap app", "PostSync 0: Pod check"},
		},
		{
			name: "prunes after the Sync phase, highest wave first; PruneLast after PostSync",
			in: func(t *testing.T) StepsInput {
				return StepsInput{
					Desired: []*unstructured.Unstructured{
						object(t, "ConfigMap ns/keep", nil),
						object(t, "Job ns/notify", map[string]string{HookAnnotation: "PostSync"}),
					},
					Prune: []PruneTask{
						{Key: Key{Kind: "ConfigMap", Namespace: "ns", Name: "old-config"}, Wave: 0},
						{Key: Key{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "old-app"}, Wave: 0},
						{Key: Key{Kind: "Service", Namespace: "ns", Name: "old-svc"}, Wave: 3},
						{Key: Key{Kind: "Secret", Namespace: "ns", Name: "last"}, Wave: 1, PruneLast: true},
					},
				}
			},
			want: []string{
				"Sync 0: ConfigMap keep",
				"prune Sync 3: Service old-svc",
				"prune Sync 0: Deployment old-app, ConfigMap old-config",
				"PostSync 0: Job notify",
				"prune PostSync 1: Secret last",
			},
		},
		{
			name: "the Application's PruneLast moves every prune after PostSync",
			in: func(t *testing.T) StepsInput {
				return StepsInput{PruneLast: true, Desired: []*unstructured.Unstructured{object(t, "ConfigMap ns/keep", nil)},
					Prune: []PruneTask{{Key: Key{Kind: "ConfigMap", Namespace: "ns", Name: "old"}}}}
			},
			want: []string{"Sync 0: ConfigMap keep", "prune PostSync 0: ConfigMap old"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, _, err := Steps(tt.in(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(steps); !slices.Equal(got, tt.want) {
				t.Errorf("steps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// seedWaves returns the objects of the seed's "Implementing Sync Waves and
// Dependencies" section, verbatim.
func seedWaves(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	const manifests = `apiVersion: v1
kind: Namespace
metadata:
  name: myapp
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: myapp-config
  namespace: myapp
  annotations:
    argocd.argoproj.io/sync-wave: "0"
data:
  DATABASE_HOST: postgres.database.svc
---
apiVersion: batch/v1
kind: Job
metadata:
  name: db-migrate
  namespace: myapp
  annotations:
    argocd.argoproj.io/sync-wave: "1"
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
spec:
  template:
    spec:
      containers:
        - name: migrate
          image: myapp:latest
          command: ["./migrate.sh"]
      restartPolicy: Never
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
  namespace: myapp
  annotations:
    argocd.argoproj.io/sync-wave: "2"
spec:
  replicas: 3
`
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(manifests, "---\n") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestStepsHooks(t *testing.T) {
	steps, syncFail, err := Steps(StepsInput{Desired: []*unstructured.Unstructured{
		object(t, "Job ns/rollback", map[string]string{HookAnnotation: "SyncFail"}),
		object(t, "Job ns/migrate", map[string]string{HookAnnotation: "PreSync", HookDeletePolicyAnnotation: "HookSucceeded,HookFailed"}),
		object(t, "Pod ns/default-policy", map[string]string{HookAnnotation: "PostSync"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(syncFail) != 1 || syncFail[0].Key.Name != "rollback" || !syncFail[0].Hook {
		t.Errorf("SyncFail hooks = %+v, want the rollback Job apart", syncFail)
	}
	migrate := steps[0].Tasks[0]
	if !migrate.Hook || !slices.Equal(migrate.DeletePolicies, []DeletePolicy{HookSucceeded, HookFailed}) {
		t.Errorf("migrate = %+v", migrate)
	}
	if got := steps[1].Tasks[0].DeletePolicies; !slices.Equal(got, []DeletePolicy{BeforeHookCreation}) {
		t.Errorf("default delete policy = %v, want BeforeHookCreation", got)
	}

	generated := object(t, "Job ns/", map[string]string{HookAnnotation: "PreSync"})
	generated.SetGenerateName("smoke-")
	steps, _, err = Steps(StepsInput{Desired: []*unstructured.Unstructured{generated}})
	if err != nil || steps[0].Tasks[0].Key.Name != "smoke-" {
		t.Errorf("generateName hook: %v %+v", err, steps)
	}
}

func TestStepsRejectBadAnnotations(t *testing.T) {
	for _, tc := range []struct {
		annotations map[string]string
		want        string
	}{
		{map[string]string{SyncWaveAnnotation: "soon"}, "sync-wave of ConfigMap ns/c"},
		{map[string]string{HookAnnotation: "PreDeploy"}, `unknown hook "PreDeploy"`},
		{map[string]string{HookAnnotation: "PreSync", HookDeletePolicyAnnotation: "Never"}, `unknown policy "Never"`},
	} {
		_, _, err := Steps(StepsInput{Desired: []*unstructured.Unstructured{object(t, "ConfigMap ns/c", tc.annotations)}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.annotations, err, tc.want)
		}
	}
}
