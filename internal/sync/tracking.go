package sync

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TrackingAnnotation records which Application owns an object.
const TrackingAnnotation = "argocd.argoproj.io/tracking-id"

// Key identifies a Kubernetes object independent of its API version.
type Key struct {
	Group, Kind, Namespace, Name string
}

// KeyOf returns obj's Key.
func KeyOf(obj *unstructured.Unstructured) Key {
	gvk := obj.GroupVersionKind()
	return Key{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// GroupKind returns the key's group and kind.
func (k Key) GroupKind() schema.GroupKind { return schema.GroupKind{Group: k.Group, Kind: k.Kind} }

// String formats the key as "group/kind namespace/name", for messages.
func (k Key) String() string {
	gk := k.Kind
	if k.Group != "" {
		gk = k.Group + "/" + k.Kind
	}
	if k.Namespace == "" {
		return gk + " " + k.Name
	}
	return gk + " " + k.Namespace + "/" + k.Name
}

// TrackingID formats the tracking annotation value for an object of app.
// Argo CD's format: "<app>:<group>/<kind>:<namespace>/<name>", the group
// empty for the core group.
func TrackingID(app string, k Key) string {
	return fmt.Sprintf("%s:%s/%s:%s/%s", app, k.Group, k.Kind, k.Namespace, k.Name)
}

// ParseTrackingID splits a tracking annotation value into the owning
// Application's name and the object key it was written for.
func ParseTrackingID(v string) (app string, k Key, err error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return "", Key{}, fmt.Errorf("tracking id %q: want <app>:<group>/<kind>:<namespace>/<name>", v)
	}
	gk := strings.SplitN(parts[1], "/", 2)
	nn := strings.SplitN(parts[2], "/", 2)
	if parts[0] == "" || len(gk) != 2 || len(nn) != 2 || gk[1] == "" || nn[1] == "" {
		return "", Key{}, fmt.Errorf("tracking id %q: want <app>:<group>/<kind>:<namespace>/<name>", v)
	}
	return parts[0], Key{Group: gk[0], Kind: gk[1], Namespace: nn[0], Name: nn[1]}, nil
}

// Owner returns the Application named by obj's tracking annotation, if the
// annotation is present, well formed and written for this very object (a
// copied object with a stale annotation belongs to nobody).
func Owner(obj *unstructured.Unstructured) (string, bool) {
	v, ok := obj.GetAnnotations()[TrackingAnnotation]
	if !ok {
		return "", false
	}
	app, k, err := ParseTrackingID(v)
	if err != nil || k != KeyOf(obj) {
		return "", false
	}
	return app, true
}
