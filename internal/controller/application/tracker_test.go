package application

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Deployment controller's revision annotation does not change what
// Ferry compares; any other annotation or label does.
func TestFingerprintIgnoresTheDeploymentRevision(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1", Generation: 1, ResourceVersion: "10",
		Annotations: map[string]string{"team": "web"}, Labels: map[string]string{"app": "web"}}}
	before := fingerprintOf(d)
	d.Annotations[deploymentRevision] = "1"
	d.ResourceVersion = "11"
	if got := fingerprintOf(d); got != before {
		t.Fatalf("the revision annotation changed the fingerprint: %+v, was %+v", got, before)
	}
	if d.Annotations[deploymentRevision] != "1" {
		t.Fatal("fingerprintOf changed the object's annotations")
	}
	d.Annotations["team"] = "api"
	if fingerprintOf(d) == before {
		t.Fatal("another annotation's change left the fingerprint as it was")
	}
	d.Annotations["team"] = "web"
	d.Labels["app"] = "api"
	if fingerprintOf(d) == before {
		t.Fatal("a label's change left the fingerprint as it was")
	}
	d.Labels["app"] = "web"
	d.Generation = 2
	if fingerprintOf(d) == before {
		t.Fatal("a spec change (generation) left the fingerprint as it was")
	}
}
