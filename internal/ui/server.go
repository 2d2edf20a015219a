package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

//go:embed assets templates
var files embed.FS

// Options configure the UI server.
type Options struct {
	// Config is the API server to talk to. With tokens (the in-cluster UI)
	// only its address and CA are used: each person's requests carry their
	// own token. Local uses it as it is, for its one person.
	Config *rest.Config
	// Local is `ferry ui`: no token login; Ticket, given in the URL the
	// command opens, signs the browser in with Config's credentials, and
	// only loopback Host headers are served (no DNS rebinding).
	Local  bool
	Ticket string
	// Cache is the watch cache the list pages and the live updates read:
	// the controller's own, or one `ferry ui` starts.
	Cache  cache.Cache
	Scheme *runtime.Scheme
	Mapper meta.RESTMapper
	// Home is the controller's home namespace (AppProjects, cluster and
	// repository Secrets). Default argocd.
	Home string
	// Desired, when set, renders an Application for its diffs (the
	// controller passes its own renderer and caches); nil renders as
	// `ferry app diff` does, with the person's credentials.
	Desired func(ctx context.Context, app *v1alpha1.Application, instance string, scope fsync.ScopeFunc) (*appstate.Desired, error)
	Log     logr.Logger
}

// Server serves the UI.
type Server struct {
	opts     Options
	sessions sessions
	index    *index
	feed     *feed
	pages    *pages
	assets   http.Handler
}

// New prepares a server; Start feeds it from the watch cache.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Cache == nil || opts.Scheme == nil || opts.Mapper == nil {
		return nil, errors.New("ui: Config, Cache, Scheme and Mapper are required")
	}
	if opts.Local && opts.Ticket == "" {
		return nil, errors.New("ui: a local UI needs a ticket")
	}
	if opts.Home == "" {
		opts.Home = "argocd"
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, index: newIndex(), feed: newFeed(), pages: p,
		assets: http.StripPrefix("/assets/", http.FileServer(http.FS(static)))}, nil
}

// Start registers the server's handlers on the watch cache's Application
// informer; the index fills as the cache syncs.
func (s *Server) Start(ctx context.Context) error {
	inf, err := s.opts.Cache.GetInformer(ctx, &v1alpha1.Application{})
	if err != nil {
		return fmt.Errorf("ui: watch Applications: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.changed(obj, false) },
		UpdateFunc: func(_, obj any) { s.changed(obj, false) },
		DeleteFunc: func(obj any) { s.changed(obj, true) },
	})
	return err
}

func (s *Server) changed(obj any, deleted bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	app, ok := obj.(*v1alpha1.Application)
	if !ok {
		return
	}
	r := rowOf(app)
	r.Deleted = deleted
	s.feed.publish(s.index.put(r))
}

// Serve listens on addr until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ui: %w", err)
	}
	return nil
}

// Handler is the UI's routes behind its security headers.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", s.assets)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.authed(s.logout))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/applications", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /applications", s.authed(s.listPage))
	mux.HandleFunc("GET /applications/{ns}/{name}", s.authed(s.appPage))
	mux.HandleFunc("GET /applications/{ns}/{name}/live", s.authed(s.appLive))
	mux.HandleFunc("GET /applications/{ns}/{name}/resource", s.authed(s.resourcePage))
	mux.HandleFunc("POST /applications/{ns}/{name}/{action}", s.authed(s.appAction))
	mux.HandleFunc("GET /applicationsets", s.authed(s.appSetsPage))
	mux.HandleFunc("GET /clusters", s.authed(s.clustersPage))
	mux.HandleFunc("GET /images", s.authed(s.imagesPage))
	mux.HandleFunc("GET /projects", s.authed(s.projectsPage))
	mux.HandleFunc("GET /events", s.authed(s.events))
	return s.secure(mux)
}

// csp allows this server's own scripts, styles and requests only: no inline
// script or style, no frames, forms posting back here alone.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/assets/") {
			h.Set("Cache-Control", "no-store")
		}
		if s.opts.Local && !loopbackHost(r.Host) {
			http.Error(w, "ferry ui serves loopback host names only", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports a Host header (with or without its port) that names
// this machine's loopback.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return IsLoopback(host)
}

// IsLoopback reports a host name or IP address (brackets allowed) of this
// machine's loopback: "localhost", 127.0.0.0/8 or ::1. `ferry ui` listens
// and answers on such hosts only.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// authed runs h with the request's session, or sends the browser to log in.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ss *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			ss = s.sessions.get(c.Value)
		}
		if ss == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet {
			if err := checkCSRF(r, ss); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
		}
		h(w, r, ss)
	}
}

// newClient makes a client for cfg with the server's scheme and mapper
// (discovery is not asked again per person).
func (s *Server) newClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{Scheme: s.opts.Scheme, Mapper: s.opts.Mapper})
}
