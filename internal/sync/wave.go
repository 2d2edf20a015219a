package sync

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SyncWaveAnnotation orders a sync: lower waves first, as in Argo CD.
const SyncWaveAnnotation = "argocd.argoproj.io/sync-wave"

// SyncWave returns obj's sync wave: the annotation's integer; without it,
// Helm's helm.sh/hook-weight, as Argo CD reads it (for any object, 0 when
// not an integer); 0 when neither is set. A sync-wave that is not an
// integer is an error naming the object.
func SyncWave(obj *unstructured.Unstructured) (int64, error) {
	v, ok := obj.GetAnnotations()[SyncWaveAnnotation]
	if !ok {
		return helmWeight(obj), nil
	}
	w, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, &waveError{key: KeyOf(obj), value: v}
	}
	return w, nil
}

type waveError struct {
	key   Key
	value string
}

func (e *waveError) Error() string {
	return "annotation " + SyncWaveAnnotation + " of " + e.key.String() + ": " + strconv.Quote(e.value) + " is not an integer"
}
