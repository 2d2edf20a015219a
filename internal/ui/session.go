package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appview"
)

const (
	sessionCookie = "ferry_session"
	loginCookie   = "ferry_login"
	// sessionTTL is how long a session lasts without use. A token the API
	// server stops accepting does not end it, but every request is the
	// person's: their actions are refused, and the cached pages, filtered
	// by access reviews made with that token, show nothing.
	sessionTTL = 8 * time.Hour
	// accessTTL is how long an answer of the API server's authorizer is
	// reused for the pages served from the watch cache.
	accessTTL = 20 * time.Second
)

// session is one signed-in person: their client, and the CSRF token every
// action of theirs must carry.
type session struct {
	id, csrf, user string
	client         client.Client
	// config is the person's client configuration (discovery, probes).
	config   *rest.Config
	lastUsed time.Time

	mu     sync.Mutex
	access map[accessKey]accessAnswer
	// commit is what this person has read of history entries' commits,
	// by repository and revision: a commit does not change, and reading
	// one clones the repository. Kept per person, who may read it with
	// the repository Secrets their RBAC lets them read.
	commit map[string]appview.Commit
}

// commits returns the commit of each of app's history entries, by
// revision, calling read only when one is not known yet.
func (ss *session) commits(app *v1alpha1.Application, read func() map[string]appview.Commit) map[string]appview.Commit {
	repo := func(h v1alpha1.RevisionHistory) string {
		if h.Source.RepoURL == "" && app.Spec.Source != nil {
			return app.Spec.Source.RepoURL
		}
		return h.Source.RepoURL
	}
	ss.mu.Lock()
	out := map[string]appview.Commit{}
	complete := true
	for _, h := range app.Status.History {
		c, ok := ss.commit[repo(h)+"@"+h.Revision]
		complete = complete && ok
		out[h.Revision] = c
	}
	ss.mu.Unlock()
	if complete {
		return out
	}
	out = read()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.commit == nil || len(ss.commit) > 1000 {
		ss.commit = map[string]appview.Commit{}
	}
	for _, h := range app.Status.History {
		if c, ok := out[h.Revision]; ok {
			// A commit that could not be read is remembered too (the
			// live part reloads often; each read clones), until the
			// session ends, a hard refresh, or 1,000 entries.
			ss.commit[repo(h)+"@"+h.Revision] = c
		}
	}
	return out
}

func (ss *session) forgetCommits() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.commit = nil
}

type accessKey struct{ verb, group, resource, namespace string }

type accessAnswer struct {
	allowed bool
	at      time.Time
}

// sessions are kept in memory: a restart signs everyone out, and no token
// is ever written anywhere.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) add(user string, c client.Client, cfg *rest.Config) *session {
	ss := &session{id: randomToken(), csrf: randomToken(), user: user, client: c, config: cfg, lastUsed: time.Now(), access: map[accessKey]accessAnswer{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	for id, old := range s.m {
		if time.Since(old.lastUsed) > sessionTTL {
			delete(s.m, id)
		}
	}
	s.m[ss.id] = ss
	return ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil || time.Since(ss.lastUsed) > sessionTTL {
		delete(s.m, id)
		return nil
	}
	ss.lastUsed = time.Now()
	return ss
}

// alive says whether the session still exists and has not expired,
// without counting as a use (an open event stream does not keep a
// session alive).
func (s *sessions) alive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	return ss != nil && time.Since(ss.lastUsed) <= sessionTTL
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// can asks the API server, as the person, whether they may verb the
// resource in namespace ("" for every namespace). The answer is reused for
// accessTTL; an error answers no.
func (ss *session) can(ctx context.Context, verb, group, resource, namespace string) bool {
	k := accessKey{verb, group, resource, namespace}
	ss.mu.Lock()
	a, ok := ss.access[k]
	ss.mu.Unlock()
	if ok && time.Since(a.at) < accessTTL {
		return a.allowed
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: namespace},
	}}
	allowed := false
	if err := ss.client.Create(ctx, review); err == nil {
		allowed = review.Status.Allowed
	}
	ss.mu.Lock()
	ss.access[k] = accessAnswer{allowed: allowed, at: time.Now()}
	ss.mu.Unlock()
	return allowed
}

// whoAmI asks the API server who the credentials are: a token it does not
// accept is refused here, before any session exists.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", err
	}
	if review.Status.UserInfo.Username == "" {
		return "", errors.New("the API server did not say who the token belongs to")
	}
	return review.Status.UserInfo.Username, nil
}

// tokenConfig is base without its own credentials, carrying token: the
// person's requests are theirs alone.
func tokenConfig(base *rest.Config, token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(base)
	cfg.BearerToken = token
	return cfg
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: viaTLS(r),
	})
}

// viaTLS says whether the browser reached the UI over TLS: directly, or
// through an Ingress or proxy that terminates it and says so. Trusting the
// header only ever adds the Secure flag.
func viaTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameToken compares secrets in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// checkCSRF refuses a state-changing request that does not carry the
// session's token, or that a browser says came from another site.
func checkCSRF(r *http.Request, ss *session) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request (Sec-Fetch-Site: %s) refused", site)
	}
	token := r.Header.Get("X-CSRF-Token")
	if token == "" {
		token = r.PostFormValue("csrf")
	}
	if !sameToken(token, ss.csrf) {
		return errors.New("missing or wrong CSRF token: reload the page and try again")
	}
	return nil
}

// restConfig is the person's configuration, a copy.
func (ss *session) restConfig() (*rest.Config, error) { return rest.CopyConfig(ss.config), nil }
