package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NormalizeServer writes an API server URL the one way Ferry compares them:
// trimmed of spaces and of every trailing slash ("https://h//" is
// "https://h"). Cluster Secrets, Application destinations and `ferry
// cluster` arguments all go through it, so a destination always matches
// its own cluster Secret.
func NormalizeServer(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), "/")
}

// Registry reads the cluster Secrets of one namespace (Argo CD's control
// plane namespace). It is the one way Ferry finds and lists registered
// clusters: the Application and ApplicationSet controllers and `ferry
// cluster` all use it.
type Registry struct {
	// Reader reads Secrets: a watch cache in the controller, the API
	// server in the CLI.
	Reader client.Reader
	// Namespace holds the cluster Secrets.
	Namespace string
	// Options decide which credential kinds are accepted.
	Options Options
}

// Entry is one cluster Secret as read: the Cluster it registers, or why it
// does not parse.
type Entry struct {
	// Secret is the Secret itself (its metadata and data).
	Secret *corev1.Secret
	// Cluster is the parsed cluster; zero when Err is set.
	Cluster Cluster
	// Err names the data key at fault when the Secret does not parse;
	// it never quotes a value.
	Err error
}

// Server is the entry's server, normalized, even when the Secret does not
// parse.
func (e Entry) Server() string {
	if e.Err == nil {
		return e.Cluster.Server
	}
	return NormalizeServer(string(e.Secret.Data[keyServer]))
}

// Name is the entry's cluster name, even when the Secret does not parse.
func (e Entry) Name() string {
	if e.Err == nil {
		return e.Cluster.Name
	}
	return strings.TrimSpace(string(e.Secret.Data[keyName]))
}

// Shard is the Secret's shard field (Argo CD's): the controller shard that
// manages the cluster, from 0; -1 when unset or not a whole number.
func (e Entry) Shard() int {
	raw := strings.TrimSpace(string(e.Secret.Data[keyShard]))
	if raw == "" {
		return -1
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// List returns every cluster Secret of the namespace, parsed, in the
// Reader's order. A Secret that does not parse is an entry with Err set,
// not an error: callers decide whether it stops them.
func (r Registry) List(ctx context.Context) ([]Entry, error) {
	list := &corev1.SecretList{}
	if err := r.Reader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels{SecretTypeLabel: secretTypeCluster}); err != nil {
		return nil, fmt.Errorf("list cluster Secrets in namespace %s: %w", r.Namespace, err)
	}
	out := make([]Entry, len(list.Items))
	for i := range list.Items {
		s := &list.Items[i]
		c, err := FromSecret(s.Name, s.Labels, s.Annotations, s.Data, r.Options)
		out[i] = Entry{Secret: s, Cluster: c, Err: err}
	}
	return out, nil
}

// Find returns the entry registering server (when set) or, without a
// server, the cluster named name; nil when none does. The entry's Err is
// set when the matching Secret does not parse.
func (r Registry) Find(ctx context.Context, server, name string) (*Entry, error) {
	entries, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	return Lookup(entries, server, name), nil
}

// Lookup returns the entry registering server (when set) or, without a
// server, the cluster named name; nil when none does. For callers that
// already hold the list (the Application controller prunes its pool with it).
func Lookup(entries []Entry, server, name string) *Entry {
	server = NormalizeServer(server)
	for i := range entries {
		e := &entries[i]
		if (server != "" && e.Server() == server) || (server == "" && name != "" && e.Name() == name) {
			return e
		}
	}
	return nil
}
