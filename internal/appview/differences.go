package appview

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Difference is one resource a sync of the Application would change, as
// `ferry app diff` and the web UI show it.
type Difference struct {
	Key fsync.Key
	// Note says why, when it is not an ordinary change: the object requires
	// pruning (and what a sync will do about it), its kind is not served
	// yet, or the API server refuses it.
	Note string
	// Live and Desired are the two sides of its diff (nil: absent); both
	// are nil for an object the API server refuses: there is no diff,
	// only the Note.
	Live, Desired *unstructured.Unstructured
}

// Refused reports a difference that has no diff, only its Note.
func (d Difference) Refused() bool { return d.Live == nil && d.Desired == nil }

// Differences lists every resource of cmp that is not Synced, in its order.
func Differences(cmp *appstate.Comparison, app *v1alpha1.Application) []Difference {
	prune := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil && app.Spec.SyncPolicy.Automated.Prune
	var out []Difference
	for _, s := range cmp.Resources {
		switch {
		case s.RequiresPruning:
			note := "requires pruning: a sync with prune deletes it"
			switch {
			case s.PruneDisabled:
				note = "requires pruning, kept: it is marked Prune=false"
			case prune:
				note = "requires pruning: the automated sync (prune on) deletes it"
			}
			out = append(out, Difference{Key: s.Key, Note: note, Live: s.Live})
		case !s.Desired || s.Sync == v1alpha1.SyncStatusCodeSynced:
		case s.Unserved:
			out = append(out, Difference{Key: s.Key, Note: "kind not served by the cluster yet: a sync creates it after its CRD", Desired: s.Object})
		case s.Message != "":
			out = append(out, Difference{Key: s.Key, Note: "the API server refuses this object, a sync will fail: " + s.Message})
		default:
			out = append(out, Difference{Key: s.Key, Live: s.Live, Desired: s.Predicted})
		}
	}
	return out
}
