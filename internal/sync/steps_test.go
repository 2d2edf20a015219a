package sync

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/examples"
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
					object(t, "Job jobs/migrate", map[string]string{HookAnnotation: "PreSync", SyncWaveAnnotation: "5"}),
					object(t, "Namespace jobs", wave("10")),
				}}
			},
			want: []string{
				"PreSync 4: Namespace jobs",
				"PreSync 5: Job migrate",
				"Sync -2: Service web",
				"Sync 0: ConfigMap a, ConfigMap b, Deployment web",
				"PostSync 0: Job smoke",
			},
		},
		{
			name: "the example sync-wave manifests run in the order their comments state",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: exampleWaves(t)}
			},
			want: []string{
				"PreSync -1: Namespace myapp",
				"PreSync 0: ConfigMap myapp-config",
				"PreSync 1: Job db-migrate",
				"Sync 2: Deployment myapp",
			},
		},
		{
			name: "a PreSync hook's prerequisites: lower waves, its namespace, kinds others depend on only",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: []*unstructured.Unstructured{
					object(t, "Job ns/migrate", map[string]string{HookAnnotation: "PreSync", SyncWaveAnnotation: "1"}),
					object(t, "Secret ns/db", wave("-3")),          // lower wave: moves, keeps its wave
					object(t, "ServiceAccount ns/migrator", nil),   // wave 0 < 1: moves
					object(t, "ConfigMap ns/same-wave", wave("1")), // not lower: stays
					object(t, "ConfigMap other/elsewhere", nil),    // another namespace: stays
					object(t, "Deployment ns/web", wave("-5")),     // a workload: stays
					object(t, "ClusterRole reader", wave("-5")),    // cluster-scoped: stays
				}}
			},
			want: []string{
				"PreSync -3: Secret db",
				"PreSync 0: ServiceAccount migrator",
				"PreSync 1: Job migrate",
				"Sync -5: ClusterRole reader, Deployment web",
				"Sync 0: ConfigMap elsewhere",
				"Sync 1: ConfigMap same-wave",
			},
		},
		{
			name: "a Namespace goes before the earliest hook in it, in the hook's phase; ties and later hooks leave it",
			in: func(t *testing.T) StepsInput {
				return StepsInput{Desired: []*unstructured.Unstructured{
					object(t, "Namespace late", wave("3")),
					object(t, "Job late/check", map[string]string{HookAnnotation: "Sync", SyncWaveAnnotation: "-2"}),
					object(t, "Job late/smoke", map[string]string{HookAnnotation: "PostSync"}),
					object(t, "Namespace tied", nil),
					object(t, "Job tied/run", map[string]string{HookAnnotation: "Sync"}),
					object(t, "Namespace after", wave("-1")),
					object(t, "Job after/notify", map[string]string{HookAnnotation: "PostSync"}),
				}}
			},
			want: []string{
				"Sync -3: Namespace late",
				"Sync -2: Job check",
				"Sync -1: Namespace after",
				"Sync 0: Namespace tied, Job run",
				"PostSync 0: Job notify, Job smoke",
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

// exampleWaves returns the objects of the example sync-wave manifests,
// verbatim.
func exampleWaves(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(examples.SyncWaves())))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
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

func TestHookState(t *testing.T) {
	obj := func(apiVersion, kind, status string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte("apiVersion: "+apiVersion+"\nkind: "+kind+"\nstatus: "+status), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		obj   *unstructured.Unstructured
		state State
		msg   string
		ok    bool
	}{
		{obj("batch/v1", "Job", "{}"), Running, "job running", true},
		{obj("batch/v1", "Job", "{conditions: [{type: Complete, status: 'True'}]}"), Succeeded, "job completed", true},
		{obj("batch/v1", "Job", "{conditions: [{type: Complete, status: 'False'}, {type: Failed, status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]}"),
			Failed, "BackoffLimitExceeded: Job has reached the specified backoff limit", true},
		{obj("v1", "Pod", "{phase: Running}"), Running, "pod running", true},
		{obj("v1", "Pod", "{phase: Succeeded}"), Succeeded, "pod succeeded", true},
		{obj("v1", "Pod", "{phase: Failed, reason: Evicted, message: low on memory}"), Failed, "pod failed: Evicted low on memory", true},
		{obj("v1", "ConfigMap", "{}"), "", "", false},
	} {
		state, msg, ok := hookState(tc.obj)
		if state != tc.state || msg != tc.msg || ok != tc.ok {
			t.Errorf("%s %v: got (%q, %q, %v), want (%q, %q, %v)", tc.obj.GetKind(), tc.obj.Object["status"], state, msg, ok, tc.state, tc.msg, tc.ok)
		}
	}
}

// TestPrerequisitesAreBuiltinKinds: a custom resource whose kind is named
// like a built-in prerequisite (Knative's Service) is a workload and stays
// in the Sync phase.
func TestPrerequisitesAreBuiltinKinds(t *testing.T) {
	knative := object(t, "Service ns/web", wave("-1"))
	knative.SetAPIVersion("serving.knative.dev/v1")
	steps, _, err := Steps(StepsInput{Desired: []*unstructured.Unstructured{
		object(t, "Job ns/migrate", map[string]string{HookAnnotation: "PreSync"}),
		object(t, "Service ns/db", wave("-1")),
		knative,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PreSync -1: Service db", "PreSync 0: Job migrate", "Sync -1: Service web"}
	if got := describe(steps); !slices.Equal(got, want) {
		t.Errorf("steps %q, want %q", got, want)
	}
}
