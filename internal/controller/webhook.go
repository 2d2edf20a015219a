package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/controller/application"
	appsetctrl "github.com/ferrycd/ferry/internal/controller/appset"
	"github.com/ferrycd/ferry/internal/controller/image"
	"github.com/ferrycd/ferry/internal/metrics"
	"github.com/ferrycd/ferry/internal/webhook"
)

// WebhookSecretName is Argo CD's Secret whose webhook.* keys hold the
// webhook secrets: webhook.github.secret, webhook.gitlab.secret,
// webhook.bitbucketserver.secret, webhook.bitbucket.uuid,
// webhook.gogs.secret, and Ferry's webhook.gitea.secret and
// webhook.generic.secret (generic Git pushes and registry pushes).
const WebhookSecretName = "argocd-secret"

// webhookSecrets reads the webhook secrets from the watch cache on every
// request: a rotated secret applies at once, and a flood of requests costs
// the API server nothing. A missing Secret means no provider is accepted.
func webhookSecrets(c client.Reader, home string) webhook.Secrets {
	return func(ctx context.Context) (map[string]string, error) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: home, Name: WebhookSecretName}, s); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		d := s.Data
		return map[string]string{
			"github": string(d["webhook.github.secret"]), "gitlab": string(d["webhook.gitlab.secret"]),
			"bitbucket-server": string(d["webhook.bitbucketserver.secret"]), "bitbucket-cloud": string(d["webhook.bitbucket.uuid"]),
			"gogs": string(d["webhook.gogs.secret"]), "gitea": string(d["webhook.gitea.secret"]),
			"generic": string(d["webhook.generic.secret"]),
		}, nil
	}
}

// webhookServer serves the receiver on its own address, as a manager
// Runnable (on which replicas: NeedLeaderElection).
type webhookServer struct {
	addr, cert, key string
	handler         http.Handler
	everyReplica    bool
}

func newWebhookServer(opts Options, c client.Client, cached client.Reader, apps *application.Reconciler, appsets *appsetctrl.Reconciler, m *metrics.Metrics, elected <-chan struct{}) *webhookServer {
	log := ctrl.Log.WithName("webhook")
	h := &webhook.Handler{
		Secrets: webhookSecrets(cached, opts.HomeNamespace),
		Pushed: func(ctx context.Context, p webhook.Push) int {
			n := apps.RepositoryPushed(ctx, p.URLs, p.Branch, p.Tag)
			sets := appsets.RepositoryPushed(ctx, p.URLs, closed(elected))
			log.Info("push", "provider", p.Provider, "branch", p.Branch, "tag", p.Tag, "refreshed", n, "applicationSets", sets)
			return n + sets
		},
		ImagePushed: func(ctx context.Context, p webhook.ImagePush) int {
			n := image.RequestScans(ctx, c, p.Image)
			log.Info("image push", "image", p.Image, "tag", p.Tag, "scans", n)
			return n
		},
		Log:     func(msg string, kv ...any) { log.Info(msg, kv...) },
		Observe: m.Webhook,
	}
	return &webhookServer{addr: opts.WebhookAddr, cert: opts.WebhookTLSCert, key: opts.WebhookTLSKey, handler: h, everyReplica: opts.Sharding != ""}
}

// NeedLeaderElection: sharded, every replica answers (a push is handed to
// the replica owning each Application through its refresh annotation);
// otherwise only the leader, whose controllers take the refreshes.
func (s *webhookServer) NeedLeaderElection() bool { return !s.everyReplica }

// closed says whether ch is closed (the manager's Elected: leading).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Start serves until ctx ends.
func (s *webhookServer) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("webhook receiver: listen on %s: %w", s.addr, err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() {
		if s.cert != "" {
			errc <- srv.ServeTLS(l, s.cert, s.key)
		} else {
			errc <- srv.Serve(l)
		}
	}()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("webhook receiver: %w", err)
	}
}
