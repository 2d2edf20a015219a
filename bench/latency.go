package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func application(name, ns, repoURL, path string, selfHeal bool) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "main", Path: path},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: ns},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: selfHeal}},
		},
	}
}

// latencyBenchmarks measures, on one Application, commit → applied after a
// refresh request, and a manual change → reverted by self-heal.
func latencyBenchmarks(ctx context.Context, c client.WithWatch, r *repo, samples int, webhookURL string) ([]row, error) {
	fmt.Fprintln(os.Stderr, "latency: commit → applied, self-heal")
	app := application("latency", "latency", r.url(), "apps/latency", true)
	if err := c.Create(ctx, app); err != nil {
		return nil, err
	}
	if err := waitValue(ctx, c, "0", nil); err != nil {
		return nil, fmt.Errorf("first sync: %w", err)
	}
	var commit, heal []time.Duration
	for i := 1; i <= samples; i++ {
		// A refresh asked for while the previous one is still being
		// cleared would be lost (the annotation would not change).
		if err := waitRefreshCleared(ctx, c, app); err != nil {
			return nil, err
		}
		value := fmt.Sprint(i)
		if err := r.write("apps/latency/cm.yaml", latencyConfigMap(value)); err != nil {
			return nil, err
		}
		if _, err := r.commit("latency " + value); err != nil {
			return nil, err
		}
		began := time.Now()
		refresh := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`))
		if err := c.Patch(ctx, app, refresh); err != nil {
			return nil, err
		}
		if err := waitValue(ctx, c, value, nil); err != nil {
			return nil, fmt.Errorf("commit %s: %w", value, err)
		}
		commit = append(commit, time.Since(began))
	}
	hooked, err := webhookLatency(ctx, c, r, samples, webhookURL)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= samples; i++ {
		want := fmt.Sprintf("w%d", samples)
		var began time.Time
		drift := func() error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "latency", Name: "latency"}}
			patch := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"data":{"value":"drift-%d"}}`, i)))
			began = time.Now()
			return c.Patch(ctx, cm, patch, client.FieldOwner("kubectl-edit"))
		}
		if err := waitValue(ctx, c, want, drift); err != nil {
			return nil, fmt.Errorf("self-heal %d: %w", i, err)
		}
		heal = append(heal, time.Since(began))
	}
	if err := c.Delete(ctx, app); err != nil {
		return nil, err
	}
	return []row{
		{"commit → applied after refresh, 1 app, p50", ms(percentile(commit, 0.5)), "≤ 1 s"},
		{"commit → applied after refresh, 1 app, p90", ms(percentile(commit, 0.9)), ""},
		{"push → GitHub webhook → applied, 1 app, p50", ms(percentile(hooked, 0.5)), "≤ 1 s"},
		{"push → GitHub webhook → applied, 1 app, p95", ms(percentile(hooked, 0.95)), ""},
		{"self-heal: manual change → reverted, p50", ms(percentile(heal, 0.5)), "≤ 2 s"},
		{"self-heal: manual change → reverted, p90", ms(percentile(heal, 0.9)), ""},
	}, nil
}

// waitValue watches the latency ConfigMap until its value is want. act, if
// set, runs once the watch is established (so no event is missed), and the
// wait then ends only after the value has first been something else.
func waitValue(ctx context.Context, c client.WithWatch, want string, act func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	w, err := c.Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace("latency"), client.MatchingFields{"metadata.name": "latency"})
	if err != nil {
		return err
	}
	defer w.Stop()
	changed := act == nil
	if act != nil {
		if err := act(); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("value %q not seen: %w", want, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed")
			}
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if !isCM || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			if cm.Data["value"] != want {
				changed = true
			} else if changed {
				return nil
			}
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func waitRefreshCleared(ctx context.Context, c client.Client, app *v1alpha1.Application) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		got := &v1alpha1.Application{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return err
		}
		if got.Annotations["argocd.argoproj.io/refresh"] == "" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("refresh annotation not cleared")
}

// benchWebhookSecret is the GitHub webhook secret the benchmark configures.
const benchWebhookSecret = "bench-webhook-secret"

// webhookLatency measures commit → GitHub push webhook → applied: the
// controller polls every poll interval (30 s by default), so only the
// webhook explains a fast rollout.
func webhookLatency(ctx context.Context, c client.WithWatch, r *repo, samples int, url string) ([]time.Duration, error) {
	fmt.Fprintln(os.Stderr, "latency: push → webhook → applied")
	var out []time.Duration
	for i := 1; i <= samples; i++ {
		value := fmt.Sprintf("w%d", i)
		if err := r.write("apps/latency/cm.yaml", latencyConfigMap(value)); err != nil {
			return nil, err
		}
		sha, err := r.commit("webhook " + value)
		if err != nil {
			return nil, err
		}
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": sha,
			"repository": map[string]any{"clone_url": r.url()}})
		mac := hmac.New(sha256.New, []byte(benchWebhookSecret))
		mac.Write(body)
		var began time.Time
		push := func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
			req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
			began = time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("webhook answered %s", resp.Status)
			}
			return nil
		}
		if err := waitValue(ctx, c, value, push); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", value, err)
		}
		out = append(out, time.Since(began))
	}
	return out, nil
}
