package application

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/shard"
)

// TestShardKey: Applications of a registered cluster share its key (by
// server or by name, pinned by the Secret's shard field); those of the
// cluster Ferry runs in, or of a cluster not registered, are keyed one by
// one.
func TestShardKey(t *testing.T) {
	entry := func(name, server, shardField string) cluster.Entry {
		data := map[string][]byte{}
		if shardField != "" {
			data["shard"] = []byte(shardField)
		}
		return cluster.Entry{Secret: &corev1.Secret{Data: data}, Cluster: cluster.Cluster{Name: name, Server: server}}
	}
	entries := []cluster.Entry{
		entry("east", "https://east.example.com", ""),
		entry("west", "https://west.example.com", " 2 "),
		entry("bad-pin", "https://odd.example.com", "two"),
	}
	app := func(server, name string) *v1alpha1.Application {
		return &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"},
			Spec: v1alpha1.ApplicationSpec{Destination: v1alpha1.ApplicationDestination{Server: server, Name: name}}}
	}
	for _, tc := range []struct {
		name string
		app  *v1alpha1.Application
		want shard.Key
	}{
		{"by server", app("https://east.example.com/", ""), shard.ClusterKey("https://east.example.com", -1)},
		{"by name", app("", "east"), shard.ClusterKey("https://east.example.com", -1)},
		{"pinned", app("", "west"), shard.ClusterKey("https://west.example.com", 2)},
		{"a pin that is not a number", app("https://odd.example.com", ""), shard.ClusterKey("https://odd.example.com", -1)},
		{"in-cluster by server", app(cluster.InClusterServer, ""), shard.AppKey("team", "web")},
		{"in-cluster by name", app("", cluster.InClusterName), shard.AppKey("team", "web")},
		{"a server not registered", app("https://new.example.com", ""), shard.ClusterKey("https://new.example.com", -1)},
		{"a name not registered", app("", "nowhere"), shard.AppKey("team", "web")},
	} {
		if got := shardKey(entries, tc.app); got != tc.want {
			t.Errorf("%s: key %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
