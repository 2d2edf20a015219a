package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// registryToken is the bearer token of the registry tests' Secrets; no
// error may quote it.
const registryToken = "r3g1stry-t0ken"

// registryNamespace is the namespace the test registries read.
const registryNamespace = "argocd"

// clusterSecret is a Secret labelled as a cluster Secret, with the given
// server, name and config data keys.
func clusterSecret(ns, secretName, server, name, config string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: secretName,
			Labels: map[string]string{SecretTypeLabel: secretTypeCluster},
		},
		Data: map[string][]byte{keyServer: []byte(server), keyName: []byte(name), keyConfig: []byte(config)},
	}
}

// tokenConfig is a valid config holding registryToken.
const tokenConfig = `{"bearerToken":"` + registryToken + `"}`

// badConfig holds registryToken but does not parse (insecure is not a
// bool).
const badConfig = `{"bearerToken":"` + registryToken + `","tlsClientConfig":{"insecure":"yes"}}`

// newRegistry is a Registry of registryNamespace over a fake client holding
// objs.
func newRegistry(objs ...client.Object) Registry {
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	return Registry{Reader: c, Namespace: registryNamespace}
}

func TestNormalizeServer(t *testing.T) {
	for _, in := range []string{"https://h", "https://h/", "https://h//", " https://h/ "} {
		if got := NormalizeServer(in); got != "https://h" {
			t.Errorf("NormalizeServer(%q) = %q, want %q", in, got, "https://h")
		}
	}
	for in, want := range map[string]string{
		"":                       "",
		" / ":                    "",
		"https://h:6443/":        "https://h:6443",
		"https://h/prefix/":      "https://h/prefix",
		"\thttps://h/prefix//\n": "https://h/prefix",
	} {
		if got := NormalizeServer(in); got != want {
			t.Errorf("NormalizeServer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistryFind(t *testing.T) {
	r := newRegistry(
		clusterSecret(registryNamespace, "cluster-h", "https://h/", "prod", tokenConfig),
		clusterSecret(registryNamespace, "cluster-bad", "https://bad.example", "bad", badConfig),
	)
	for _, tc := range []struct {
		desc, server, name string
		// wantSecret is the Secret found ("" for none); wantErr whether
		// its entry's Err is set.
		wantSecret string
		wantErr    bool
	}{
		{desc: "server with more trailing slashes than the Secret's", server: "https://h//", wantSecret: "cluster-h"},
		{desc: "server as the Secret writes it", server: "https://h/", wantSecret: "cluster-h"},
		{desc: "server with spaces", server: " https://h ", wantSecret: "cluster-h"},
		{desc: "name", name: "prod", wantSecret: "cluster-h"},
		{desc: "server wins over name", server: "https://h", name: "bad", wantSecret: "cluster-h"},
		{desc: "unknown server does not fall back to the name", server: "https://other.example", name: "prod"},
		{desc: "unknown name", name: "staging"},
		{desc: "neither server nor name"},
		{desc: "invalid Secret by server", server: "https://bad.example/", wantSecret: "cluster-bad", wantErr: true},
		{desc: "invalid Secret by name", name: "bad", wantSecret: "cluster-bad", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e, err := r.Find(t.Context(), tc.server, tc.name)
			if err != nil {
				t.Fatalf("Find(%q, %q): %v", tc.server, tc.name, err)
			}
			if tc.wantSecret == "" {
				if e != nil {
					t.Fatalf("Find(%q, %q) = Secret %s, want none", tc.server, tc.name, e.Secret.Name)
				}
				return
			}
			if e == nil {
				t.Fatalf("Find(%q, %q) = nil, want Secret %s", tc.server, tc.name, tc.wantSecret)
			}
			if e.Secret.Name != tc.wantSecret || (e.Err != nil) != tc.wantErr {
				t.Fatalf("Find(%q, %q) = Secret %s with Err %v, want Secret %s with Err set %t", tc.server, tc.name, e.Secret.Name, e.Err, tc.wantSecret, tc.wantErr)
			}
			if tc.wantErr {
				checkInvalidEntry(t, e)
				return
			}
			if e.Server() != "https://h" || e.Name() != "prod" || e.Cluster.Config.BearerToken != registryToken || e.Cluster.SecretName != "cluster-h" {
				t.Errorf("Find(%q, %q) = %s from Secret %s, want prod (https://h) with its token", tc.server, tc.name, e.Cluster, e.Cluster.SecretName)
			}
		})
	}
}

// checkInvalidEntry checks the entry of the Secret cluster-bad: Err names
// the Secret and the key at fault without quoting the token, and Server
// and Name still read the Secret.
func checkInvalidEntry(t *testing.T, e *Entry) {
	t.Helper()
	msg := e.Err.Error()
	if !strings.Contains(msg, `"cluster-bad"`) || !strings.Contains(msg, `key "config"`) {
		t.Errorf("Err = %q, want it to name Secret cluster-bad and key config", msg)
	}
	if strings.Contains(msg, registryToken) {
		t.Errorf("Err quotes the Secret's token: %q", msg)
	}
	if e.Server() != "https://bad.example" || e.Name() != "bad" {
		t.Errorf("invalid entry's Server(), Name() = %q, %q; want https://bad.example, bad", e.Server(), e.Name())
	}
	if e.Cluster.Config.BearerToken != "" {
		t.Error("invalid entry's Cluster holds the token; want a zero Cluster")
	}
}

func TestRegistryList(t *testing.T) {
	unlabelled := clusterSecret(registryNamespace, "unlabelled", "https://unlabelled.example", "unlabelled", tokenConfig)
	unlabelled.Labels = nil
	repository := clusterSecret(registryNamespace, "repository", "https://repository.example", "repository", tokenConfig)
	repository.Labels[SecretTypeLabel] = "repository"
	r := newRegistry(
		clusterSecret(registryNamespace, "cluster-h", "https://h/", "prod", tokenConfig),
		clusterSecret(registryNamespace, "cluster-bad", "https://bad.example", "bad", badConfig),
		clusterSecret("elsewhere", "cluster-elsewhere", "https://elsewhere.example", "elsewhere", tokenConfig),
		unlabelled, repository,
	)
	entries, err := r.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Secret.Name)
		if e.Secret.Name == "cluster-bad" {
			checkInvalidEntry(t, &e)
		} else if e.Err != nil {
			t.Errorf("entry of Secret %s: Err = %v, want none", e.Secret.Name, e.Err)
		}
	}
	slices.Sort(names)
	if want := []string{"cluster-bad", "cluster-h"}; !slices.Equal(names, want) {
		t.Errorf("List read Secrets %v, want %v (only labelled cluster Secrets of %s)", names, want, registryNamespace)
	}
	for _, server := range []string{"https://unlabelled.example", "https://repository.example", "https://elsewhere.example"} {
		if e, err := r.Find(t.Context(), server, ""); err != nil || e != nil {
			t.Errorf("Find(%q) = %v, %v; want nil, nil (not a cluster Secret of %s)", server, e, err, registryNamespace)
		}
	}
}

func TestRegistryListError(t *testing.T) {
	errDown := errors.New("API server down")
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return errDown },
	}).Build()
	r := Registry{Reader: c, Namespace: registryNamespace}
	if _, err := r.List(t.Context()); !errors.Is(err, errDown) || !strings.Contains(err.Error(), "namespace "+registryNamespace) {
		t.Errorf("List: err = %v, want %v naming namespace %s", err, errDown, registryNamespace)
	}
	if e, err := r.Find(t.Context(), "https://h", ""); !errors.Is(err, errDown) || e != nil {
		t.Errorf("Find: %v, %v; want nil, %v", e, err, errDown)
	}
}
