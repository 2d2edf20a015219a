package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/install"
)

// Install installs from the files Commit put in Git, so the cluster runs
// exactly what Git says: the install manifests, then the repository
// Secret and the root Application, then it waits until the controller has
// rolled out, writing progress to w. Each step is idempotent.
func Install(ctx context.Context, k *install.Cluster, opts Options, files map[string][]byte, w io.Writer) error {
	dir, err := cleanPath(opts.Path)
	if err != nil {
		return err
	}
	objs, err := decode(files[path.Join(dir, Dir, InstallFile)])
	if err != nil {
		return fmt.Errorf("%s: %w", InstallFile, err)
	}
	root, err := decode(files[path.Join(dir, Dir, RootFile)])
	if err != nil {
		return fmt.Errorf("%s: %w", RootFile, err)
	}
	if err := apply(ctx, k, objs, w); err != nil {
		return err
	}
	if err := k.WaitCRDs(ctx, objs); err != nil { // before the root Application, one of their objects
		return err
	}
	secret, err := opts.repositorySecret()
	if err != nil {
		return err
	}
	if opts.PrivateKeyFile != "" {
		if err := knownHosts(ctx, k, opts, w); err != nil {
			return err
		}
	}
	if err := apply(ctx, k, append([]*unstructured.Unstructured{secret}, root...), w); err != nil {
		return err
	}
	return k.Wait(ctx, objs, w)
}

func apply(ctx context.Context, k *install.Cluster, objs []*unstructured.Unstructured, w io.Writer) error {
	results, err := k.Apply(ctx, objs)
	install.Report(w, results)
	return err
}

// repositorySecret is the Argo CD repository Secret giving the controller
// the credentials bootstrap was given (or none, for a public repository).
func (o Options) repositorySecret() (*unstructured.Unstructured, error) {
	data := map[string]any{"type": "git", "url": o.URL}
	switch {
	case o.PrivateKeyFile != "":
		key, err := os.ReadFile(o.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--private-key-file: %w", err)
		}
		data["sshPrivateKey"] = string(key)
	case o.Username != "" || o.Password != "":
		data["username"], data["password"] = o.Username, o.Password
	}
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": RepositorySecret, "namespace": o.namespace(),
			"labels": map[string]any{"argocd.argoproj.io/secret-type": "repository"}},
		"stringData": data,
	}}
	return s, nil
}

// decode reads a multi-document YAML stream.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	if len(data) == 0 {
		return nil, errors.New("empty")
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// knownHosts gives the controller the repository's ssh host keys, in
// Argo CD's ConfigMap, unless the cluster has that ConfigMap already (its
// owner's: left as it is, and said so).
func knownHosts(ctx context.Context, k *install.Cluster, opts Options, w io.Writer) error {
	lines, err := opts.KnownHosts()
	if err != nil {
		return err
	}
	cm := opts.knownHostsConfigMap(lines)
	err = k.Client.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{})
	switch {
	case err == nil:
		fmt.Fprintf(w, "ConfigMap %s/%s kept: it must hold the host key of the repository's server\n", cm.GetNamespace(), cm.GetName())
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read ConfigMap %s/%s: %w", cm.GetNamespace(), cm.GetName(), err)
	}
	return apply(ctx, k, []*unstructured.Unstructured{cm}, w)
}
