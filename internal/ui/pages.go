package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/appview"
)

// pages are the parsed templates: each page is the layout with its own
// "content".
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"short":  appstate.Short,
	"ago":    ago,
	"lower":  strings.ToLower,
	"join":   strings.Join,
	"inc":    func(i int) int { return i + 1 },
	"dec":    func(i int) int { return i - 1 },
	"nodeOf": func(app types.NamespacedName, n appview.Node) treeNode { return treeNode{App: app, Node: n} },
	"lines":  func(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") },
	"diffClass": func(line string) string {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			return "file"
		case strings.HasPrefix(line, "+"):
			return "add"
		case strings.HasPrefix(line, "-"):
			return "del"
		case strings.HasPrefix(line, "@@"):
			return "hunk"
		}
		return ""
	},
	"query": func(q url.Values, key, value string) string {
		c := url.Values{}
		for k, v := range q {
			c[k] = v
		}
		c.Set(key, value)
		if key != "page" {
			c.Del("page")
		}
		return "?" + c.Encode()
	},
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", n, err)
		}
		p.byName[strings.TrimSuffix(base, ".html")] = t
	}
	return p, nil
}

// treeNode is a resource tree node with its Application, for links.
type treeNode struct {
	App  types.NamespacedName
	Node appview.Node
}

// view is what every page gets: the person, their CSRF token, the section.
type view struct {
	Title, Nav, User, CSRF string
	Local                  bool
	Data                   any
}

// render executes the template tmpl of page name ("layout" for a whole page,
// a fragment such as "live" for part of one) and writes it with status.
func (s *Server) render(w http.ResponseWriter, status int, name, tmpl string, v view) {
	t := s.pages.byName[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		s.opts.Log.Error(err, "render page", "page", name)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) page(w http.ResponseWriter, ss *session, name, title, nav string, data any) {
	s.render(w, http.StatusOK, name, "layout", view{Title: title, Nav: nav, User: ss.user, CSRF: ss.csrf, Local: s.opts.Local, Data: data})
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// safeNext keeps a post-login redirect on this server.
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs and read a backslash as a
	// slash, so "/\t/evil" and "/\\evil" would leave the site too.
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/applications"
	}
	return next
}

// --- login ---

type loginData struct {
	Next, Error, Nonce string
	Local              bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s.opts.Local {
		if ticket := r.URL.Query().Get("ticket"); ticket != "" {
			s.localLogin(w, r, ticket, next)
			return
		}
	}
	s.loginForm(w, r, http.StatusOK, next, "")
}

func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, next, msg string) {
	s.loginForm(w, r, http.StatusUnauthorized, next, msg)
}

// loginForm writes the login page with a fresh nonce. Login CSRF: the
// form's nonce must match a cookie only this site set.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	nonce := randomToken()
	setCookie(w, r, loginCookie, nonce, 600)
	s.render(w, status, "login", "layout", view{Title: "Log in", Local: s.opts.Local,
		Data: loginData{Next: next, Nonce: nonce, Error: msg, Local: s.opts.Local}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("nonce"), c.Value) {
		s.loginFailed(w, r, next, "The login form expired: try again.")
		return
	}
	if s.opts.Local {
		s.loginFailed(w, r, next, "Open the address `ferry ui` printed: it signs you in as your kubeconfig's user.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		s.loginFailed(w, r, next, "Paste a token: a ServiceAccount token or an OIDC ID token the API server accepts.")
		return
	}
	cfg := tokenConfig(s.opts.Config, token)
	cl, err := s.newClient(cfg)
	if err != nil {
		s.loginFailed(w, r, next, "Cannot reach the API server: "+err.Error())
		return
	}
	user, err := whoAmI(r.Context(), cl)
	if err != nil {
		s.loginFailed(w, r, next, "The API server did not accept the token: "+err.Error())
		return
	}
	s.startSession(w, r, user, cl, cfg, next)
}

func (s *Server) localLogin(w http.ResponseWriter, r *http.Request, ticket, next string) {
	if !sameToken(ticket, s.opts.Ticket) {
		s.loginFailed(w, r, next, "That address is not this `ferry ui`'s: open the one it printed.")
		return
	}
	cl, err := s.newClient(s.opts.Config)
	if err != nil {
		s.loginFailed(w, r, next, err.Error())
		return
	}
	user, err := whoAmI(r.Context(), cl)
	if err != nil {
		user = "kubeconfig user"
	}
	s.startSession(w, r, user, cl, s.opts.Config, next)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user string, cl client.Client, cfg *rest.Config, next string) {
	ss := s.sessions.add(user, cl, cfg)
	setCookie(w, r, sessionCookie, ss.id, int(sessionTTL.Seconds()))
	setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	s.sessions.remove(ss.id)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// --- the Applications list ---

type listData struct {
	Query   url.Values
	Q       listQuery
	Result  listResult
	Elapsed string
	Syncs   []string
	Healths []string
}

var (
	syncStates   = []string{"Synced", "OutOfSync", "Unknown"}
	healthStates = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)

func parseListQuery(v url.Values) listQuery {
	q := listQuery{Project: v.Get("project"), Cluster: v.Get("cluster"), Namespace: v.Get("namespace"), Sync: v.Get("sync"),
		Health: v.Get("health"), Label: v.Get("label"), Text: v.Get("q"), Sort: v.Get("sort"), Desc: v.Get("order") == "desc",
		Tiles: v.Get("view") == "tiles"}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Size, _ = strconv.Atoi(v.Get("size"))
	if q.Size <= 0 || q.Size > 500 {
		q.Size = 50
	}
	return q
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request, ss *session) {
	start := time.Now()
	q := parseListQuery(r.URL.Query())
	res := s.index.list(q, s.visible(r, ss, "argoproj.io", "applications"))
	s.page(w, ss, "list", "Applications", "apps", listData{Query: r.URL.Query(), Q: q, Result: res,
		Elapsed: time.Since(start).Round(time.Microsecond).String(), Syncs: syncStates, Healths: healthStates})
}

// visible answers, per namespace, whether the person may list the
// resource there (or everywhere), as the API server's authorizer says.
func (s *Server) visible(r *http.Request, ss *session, group, resource string) func(string) bool {
	all := ss.can(r.Context(), "list", group, resource, "")
	return func(ns string) bool { return all || ss.can(r.Context(), "list", group, resource, ns) }
}
