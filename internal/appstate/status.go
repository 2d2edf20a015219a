package appstate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/health"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Status is a comparison as an Application's status reports it (Argo CD's
// shape): per-resource sync and health, the Application's sync status and
// health, and the objects left untouched because another Application owns
// them.
type Status struct {
	Resources []v1alpha1.ResourceStatus
	Sync      v1alpha1.SyncStatusCode
	Health    v1alpha1.HealthStatusCode
	// Shared names desired objects another Application owns.
	Shared []string
}

// Status reports the comparison in status terms.
func (c *Comparison) Status() Status {
	out := Status{Resources: make([]v1alpha1.ResourceStatus, 0, len(c.Resources)), Sync: v1alpha1.SyncStatusCodeSynced}
	var healths []health.Status
	for _, s := range c.Resources {
		if !s.Desired && !s.RequiresPruning {
			continue // gone, or never ours: not part of this Application
		}
		rs := v1alpha1.ResourceStatus{
			Group: s.Key.Group, Version: VersionOf(s.APIVersion), Kind: s.Key.Kind, Namespace: s.Key.Namespace, Name: s.Key.Name,
			Status: s.Sync, RequiresPruning: s.RequiresPruning, SyncWave: s.Wave,
			RequiresDeletionConfirmation: s.PruneConfirm || s.DeleteConfirm,
		}
		if s.Desired {
			rs.Health = &v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusCode(s.Health.Status), Message: s.Health.Message}
			healths = append(healths, s.Health.Status)
		}
		if s.Sync != v1alpha1.SyncStatusCodeSynced || s.RequiresPruning {
			out.Sync = v1alpha1.SyncStatusCodeOutOfSync
		}
		if s.Shared() {
			out.Shared = append(out.Shared, fmt.Sprintf("%s (owned by %s)", s.Key, s.Owner))
		}
		out.Resources = append(out.Resources, rs)
	}
	slices.SortFunc(out.Resources, func(a, b v1alpha1.ResourceStatus) int {
		return fsync.CompareKeys(ResourceKey(a), ResourceKey(b))
	})
	out.Health = v1alpha1.HealthStatusCode(health.Aggregate(healths...))
	return out
}

// ResourceKey is the key of a resource in status.
func ResourceKey(r v1alpha1.ResourceStatus) fsync.Key {
	return fsync.Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// VersionOf is the version part of an apiVersion.
func VersionOf(apiVersion string) string {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[i+1:]
	}
	return apiVersion
}
