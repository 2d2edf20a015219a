package localcluster_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

func TestAPIModeStartsAndStops(t *testing.T) {
	began := time.Now()
	c, err := localcluster.Start(t.Context(), localcluster.Options{Mode: localcluster.ModeAPI})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Since(began)
	pids := c.PIDs()
	if len(pids) != 2 || pids["etcd"] == 0 || pids["kube-apiserver"] == 0 {
		t.Errorf("api mode runs %v, want etcd and kube-apiserver", pids)
	}
	dir := c.Dir()

	cs, err := kubernetes.NewForConfig(c.UserConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The user identity must not be system:masters (exempt from APF).
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}
	if got := review.Status.UserInfo; got.Username != localcluster.UserName || slices.Contains(got.Groups, "system:masters") {
		t.Errorf("user identity = %s %v, want %s outside system:masters", got.Username, got.Groups, localcluster.UserName)
	}
	// ...yet it may write, through its RBAC binding.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Errorf("user cannot create a ConfigMap: %v", err)
	}
	// Built with version link flags, the server reports the real version.
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != localcluster.KubeVersion {
		t.Errorf("server version = %q, want %q", v.GitVersion, localcluster.KubeVersion)
	}

	stopBegan := time.Now()
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("api mode: started in %s, stopped in %s", started.Round(time.Millisecond), time.Since(stopBegan).Round(time.Millisecond))
	localclustertest.AssertExited(t, pids)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s not removed: %v", dir, err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestFullModeRunsWorkloads(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 2})
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if c.PIDs()[name] == 0 {
			t.Errorf("full mode does not run %s: %v", name, c.PIDs())
		}
	}
	cs, err := kubernetes.NewForConfig(c.UserConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "once", Image: "once:1"}},
		}}},
	}
	if _, err := cs.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	localclustertest.Eventually(t, 90*time.Second, "deployment web Current", func(ctx context.Context) (bool, string) {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		d.APIVersion, d.Kind = "apps/v1", "Deployment"
		return kstatusCurrent(d)
	})
	localclustertest.Eventually(t, 90*time.Second, "job once Complete", func(ctx context.Context) (bool, string) {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("succeeded=%d failed=%d conditions=%v", j.Status.Succeeded, j.Status.Failed, j.Status.Conditions)
	})
}

func kstatusCurrent(obj runtime.Object) (bool, string) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return false, err.Error()
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		return false, err.Error()
	}
	return res.Status == status.CurrentStatus, fmt.Sprintf("%s: %s", res.Status, res.Message)
}

func TestMissingBinariesNameMakeKube(t *testing.T) {
	_, err := localcluster.Start(t.Context(), localcluster.Options{BinDir: t.TempDir()})
	if err == nil {
		t.Fatal("start with an empty binary directory succeeded")
	}
	if !regexp.MustCompile("make kube").MatchString(err.Error()) {
		t.Errorf("error %q does not name `make kube`", err)
	}
}

func TestBuildScriptPinsKubeVersion(t *testing.T) {
	script, err := os.ReadFile("../../hack/build-kube.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^kube_version=(\S+)$`).FindSubmatch(script)
	if m == nil || string(m[1]) != localcluster.KubeVersion {
		t.Errorf("hack/build-kube.sh pins %q, localcluster.KubeVersion is %q", m, localcluster.KubeVersion)
	}
}
