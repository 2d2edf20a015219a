package notify

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The configuration's names, Argo CD Notifications': a ConfigMap and a
// Secret in the controller's home namespace.
const (
	ConfigMapName = "argocd-notifications-cm"
	SecretName    = "argocd-notifications-secret"
)

// Loader reads the configuration of one namespace: the ConfigMap
// ConfigMapName and the Secret SecretName (optional). It parses them again
// only when one of them changed (by resourceVersion), so a reader backed by
// a watch cache makes a load cost no request and no parse. Safe for
// concurrent use.
type Loader struct {
	Reader    client.Reader
	Namespace string

	mu  sync.Mutex
	key string // the resourceVersions cfg and err were parsed from
	cfg *Config
	err error
}

// Load returns the parsed configuration. Without the ConfigMap the error
// satisfies apierrors.IsNotFound: notifications are not configured.
func (l *Loader) Load(ctx context.Context) (*Config, error) {
	cm := &corev1.ConfigMap{}
	if err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: ConfigMapName}, cm); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", l.Namespace, ConfigMapName, err)
	}
	secret := &corev1.Secret{}
	if err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: SecretName}, secret); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read %s/%s: %w", l.Namespace, SecretName, err)
	}
	key := cm.ResourceVersion + "/" + secret.ResourceVersion
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg == nil && l.err == nil || key != l.key {
		l.cfg, l.err = Parse(cm.Data, secret.Data)
		l.key = key
	}
	return l.cfg, l.err
}
