package sync

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestTrackingIDRoundTrip(t *testing.T) {
	keys := []Key{
		{Kind: "ConfigMap", Namespace: "staging", Name: "myapp-config"},
		{Group: "apps", Kind: "Deployment", Namespace: "staging", Name: "myapp"},
		{Kind: "Namespace", Name: "myapp"},
	}
	for _, k := range keys {
		id := TrackingID("myapp-staging", k)
		app, got, err := ParseTrackingID(id)
		if err != nil || app != "myapp-staging" || got != k {
			t.Errorf("ParseTrackingID(%q) = %q %+v %v, want myapp-staging %+v", id, app, got, err, k)
		}
	}
	// Argo CD's own format for a core-group object.
	if id := TrackingID("guestbook", Key{Kind: "Service", Namespace: "default", Name: "ui"}); id != "guestbook:/Service:default/ui" {
		t.Errorf("TrackingID = %q, want Argo CD's guestbook:/Service:default/ui", id)
	}
}

func TestParseTrackingIDRejectsMalformed(t *testing.T) {
	for _, v := range []string{"", "app", "app:/Service", ":/Service:default/ui", "app:/:default/ui", "app:/Service:default/", "a:b:c:d"} {
		if _, _, err := ParseTrackingID(v); err == nil {
			t.Errorf("ParseTrackingID(%q) succeeded", v)
		}
	}
}

func TestOwnerIgnoresCopiedAnnotation(t *testing.T) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("ConfigMap")
	obj.SetNamespace("default")
	obj.SetName("copy")
	obj.SetAnnotations(map[string]string{TrackingAnnotation: "app:/ConfigMap:default/original"})
	if app, ok := Owner(obj); ok {
		t.Errorf("Owner = %q for an annotation written for another object", app)
	}
	obj.SetAnnotations(map[string]string{TrackingAnnotation: "app:/ConfigMap:default/copy"})
	if app, ok := Owner(obj); !ok || app != "app" {
		t.Errorf("Owner = %q %v, want app", app, ok)
	}
}

func FuzzParseTrackingID(f *testing.F) {
	f.Add("app:apps/Deployment:ns/name")
	f.Add("a:/b:/c")
	f.Fuzz(func(t *testing.T, v string) {
		app, k, err := ParseTrackingID(v)
		if err != nil {
			return
		}
		if again := TrackingID(app, k); again != v {
			t.Errorf("TrackingID(ParseTrackingID(%q)) = %q", v, again)
		}
	})
}

func TestSyncWave(t *testing.T) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("ConfigMap")
	obj.SetName("c")
	for _, tc := range []struct {
		annotation string
		set        bool
		want       int64
		err        bool
	}{{"", false, 0, false}, {"-1", true, -1, false}, {" 2 ", true, 2, false}, {"first", true, 0, true}} {
		obj.SetAnnotations(nil)
		if tc.set {
			obj.SetAnnotations(map[string]string{SyncWaveAnnotation: tc.annotation})
		}
		got, err := SyncWave(obj)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SyncWave(%q) = %d, %v; want %d, error %v", tc.annotation, got, err, tc.want, tc.err)
		}
	}
}
