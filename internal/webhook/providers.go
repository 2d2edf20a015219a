package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxPushes bounds how many refs one payload (Bitbucket's change lists)
// may refresh; further changes are ignored.
const maxPushes = 100

// Parse errors: their text is the 400 response, so it never holds input.
var (
	errMalformed     = errors.New("malformed JSON")
	errNoURL         = errors.New("missing repository URL")
	errNoRef         = errors.New("missing ref")
	errRef           = errors.New("ref is neither a branch nor a tag")
	errRefName       = errors.New("invalid ref name")
	errCommit        = errors.New("invalid commit id")
	errNoChanges     = errors.New("no branch or tag changes")
	errBranchAndTag  = errors.New("give a branch or a tag, not both")
	errImage         = errors.New("missing or invalid image")
	errImageTag      = errors.New("missing or invalid tag")
	errFormNoPayload = errors.New("missing payload field")
)

type eventKind int

const (
	kindIgnored eventKind = iota // verified, but not an event we act on
	kindPush
	kindPing
)

// provider describes how one sender is recognised, authenticated and parsed.
type provider struct {
	name           string // Push.Provider, log label and replay namespace
	secret         string // key in the Secrets map
	eventHeader    string // header naming the event ("" when implied)
	deliveryHeader string // header carrying the delivery id
	kind           func(event string) eventKind
	verify         func(h http.Header, body []byte, secret string) bool
	parse          func(body []byte) (parsed, error)
}

// parsed is a well-formed event: pushes for Git, image for a registry.
type parsed struct {
	pushes []Push
	image  *ImagePush
}

func (p parsed) count() int {
	if p.image != nil {
		return 1
	}
	return len(p.pushes)
}

var (
	github = &provider{
		name: "github", secret: "github",
		eventHeader: "X-GitHub-Event", deliveryHeader: "X-GitHub-Delivery",
		kind:   kinds(map[string]eventKind{"push": kindPush, "ping": kindPing}),
		verify: hmacHeader("X-Hub-Signature-256", "sha256="),
		parse:  parseGitHub,
	}
	gitlab = &provider{
		name: "gitlab", secret: "gitlab",
		eventHeader: "X-Gitlab-Event", deliveryHeader: "X-Gitlab-Event-UUID",
		kind:   kinds(map[string]eventKind{"Push Hook": kindPush, "Tag Push Hook": kindPush}),
		verify: tokenHeader("X-Gitlab-Token"),
		parse:  parseGitLab,
	}
	gitea = &provider{
		name: "gitea", secret: "gitea",
		eventHeader: "X-Gitea-Event", deliveryHeader: "X-Gitea-Delivery",
		kind:   kinds(map[string]eventKind{"push": kindPush}),
		verify: hmacHeader("X-Gitea-Signature", ""),
		parse:  parseGitea,
	}
	gogs = &provider{
		name: "gogs", secret: "gogs",
		eventHeader: "X-Gogs-Event", deliveryHeader: "X-Gogs-Delivery",
		kind:   kinds(map[string]eventKind{"push": kindPush}),
		verify: hmacHeader("X-Gogs-Signature", ""),
		parse:  parseGitea,
	}
	bitbucketServer = &provider{
		name: "bitbucket-server", secret: "bitbucket-server",
		eventHeader: "X-Event-Key", deliveryHeader: "X-Request-Id",
		kind:   kinds(map[string]eventKind{"repo:refs_changed": kindPush, "diagnostics:ping": kindPing}),
		verify: hmacHeader("X-Hub-Signature", "sha256="),
		parse:  parseBitbucketServer,
	}
	bitbucketCloud = &provider{
		name: "bitbucket-cloud", secret: "bitbucket-cloud",
		eventHeader: "X-Event-Key", deliveryHeader: "X-Request-UUID",
		kind:   kinds(map[string]eventKind{"repo:push": kindPush}),
		verify: verifyHookUUID,
		parse:  parseBitbucketCloud,
	}
	generic = &provider{
		name: "generic", secret: "generic", deliveryHeader: "X-Ferry-Delivery",
		kind: alwaysPush, verify: verifyGeneric, parse: parseGeneric,
	}
	registry = &provider{
		name: "registry", secret: "generic", deliveryHeader: "X-Ferry-Delivery",
		kind: alwaysPush, verify: verifyGeneric, parse: parseRegistry,
	}
)

// detectProvider picks the sender of a request to /api/webhook from its
// headers, or nil. Gitea also sends Gogs- and GitHub-style headers, and
// Gogs GitHub-style ones, so the most specific header is checked first.
func detectProvider(h http.Header) *provider {
	switch {
	case h.Get("X-Gitea-Event") != "":
		return gitea
	case h.Get("X-Gogs-Event") != "":
		return gogs
	case h.Get("X-GitHub-Event") != "":
		return github
	case h.Get("X-Gitlab-Event") != "":
		return gitlab
	case h.Get("X-Event-Key") == "repo:push", h.Get("X-Event-Key") != "" && h.Get("X-Hook-UUID") != "":
		return bitbucketCloud
	case h.Get("X-Event-Key") != "":
		return bitbucketServer
	}
	return nil
}

func kinds(m map[string]eventKind) func(string) eventKind {
	return func(event string) eventKind { return m[event] }
}

func alwaysPush(string) eventKind { return kindPush }

// hmacHeader verifies a hex HMAC-SHA256 of the body in header, after prefix.
func hmacHeader(header, prefix string) func(http.Header, []byte, string) bool {
	return func(h http.Header, body []byte, secret string) bool {
		return hmacMatches(h.Get(header), prefix, body, secret)
	}
}

// tokenHeader verifies that header holds the secret itself.
func tokenHeader(header string) func(http.Header, []byte, string) bool {
	return func(h http.Header, _ []byte, secret string) bool {
		return tokenEqual(h.Get(header), secret)
	}
}

// verifyHookUUID checks Bitbucket Cloud's X-Hook-UUID against the secret
// (Bitbucket Cloud signs nothing; this is what Argo CD checks too).
func verifyHookUUID(h http.Header, _ []byte, secret string) bool {
	return tokenEqual(normalizeUUID(h.Get("X-Hook-UUID")), normalizeUUID(secret))
}

func normalizeUUID(s string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
}

// verifyGeneric accepts X-Ferry-Signature-256 (which, when present, must
// be valid) or else "Authorization: Bearer <secret>".
func verifyGeneric(h http.Header, body []byte, secret string) bool {
	if sig := h.Values("X-Ferry-Signature-256"); len(sig) > 0 {
		return hmacMatches(sig[0], "sha256=", body, secret)
	}
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tokenEqual(strings.TrimSpace(token), secret)
}

func hmacMatches(sig, prefix string, body []byte, secret string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(sig), prefix)
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// tokenEqual compares in constant time, hashing first so that not even the
// length of the secret leaks.
func tokenEqual(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// formPayload returns the JSON of a form-encoded delivery (GitHub, Gitea
// and Gogs can send "payload=<json>"), or body unchanged.
func formPayload(h http.Header, body []byte) ([]byte, error) {
	mediaType, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errMalformed
	}
	payload := form.Get("payload")
	if payload == "" {
		return nil, errFormNoPayload
	}
	return []byte(payload), nil
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errMalformed
	}
	return nil
}

// parseGitHub parses a GitHub push event.
func parseGitHub(body []byte) (parsed, error) {
	var p struct {
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Repository struct {
			CloneURL string `json:"clone_url"`
			SSHURL   string `json:"ssh_url"`
			GitURL   string `json:"git_url"`
			HTMLURL  string `json:"html_url"`
		} `json:"repository"`
	}
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	r := p.Repository
	return onePush(p.Ref, p.After, r.CloneURL, r.SSHURL, r.GitURL, r.HTMLURL)
}

// parseGitea parses a Gitea or Gogs push event: GitHub's shape (without
// git_url, which is then empty and dropped).
func parseGitea(body []byte) (parsed, error) { return parseGitHub(body) }

type gitLabRepo struct {
	GitHTTPURL string `json:"git_http_url"`
	GitSSHURL  string `json:"git_ssh_url"`
	WebURL     string `json:"web_url"`
	Homepage   string `json:"homepage"`
}

// parseGitLab parses a GitLab push or tag push event. After is
// checkout_sha when given (the commit, also for annotated tags), else after.
func parseGitLab(body []byte) (parsed, error) {
	var p struct {
		Ref         string     `json:"ref"`
		After       string     `json:"after"`
		CheckoutSHA string     `json:"checkout_sha"`
		Project     gitLabRepo `json:"project"`
		Repository  gitLabRepo `json:"repository"`
	}
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	after := p.After
	if p.CheckoutSHA != "" {
		after = p.CheckoutSHA
	}
	pr, r := p.Project, p.Repository
	return onePush(p.Ref, after, pr.GitHTTPURL, pr.GitSSHURL, pr.WebURL,
		r.GitHTTPURL, r.GitSSHURL, r.Homepage)
}

type bitbucketServerChange struct {
	Ref struct {
		ID        string `json:"id"`
		DisplayID string `json:"displayId"`
		Type      string `json:"type"`
	} `json:"ref"`
	RefID  string `json:"refId"`
	ToHash string `json:"toHash"`
}

// parseBitbucketServer parses a Bitbucket Server (Data Center)
// repo:refs_changed event into one Push per changed branch or tag (in
// payload order, deduplicated, at most maxPushes). Changes to other refs
// are skipped; a payload with no usable change is an error.
func parseBitbucketServer(body []byte) (parsed, error) {
	var p struct {
		Repository struct {
			Links struct {
				Clone []struct {
					Href string `json:"href"`
				} `json:"clone"`
			} `json:"links"`
		} `json:"repository"`
		Changes []bitbucketServerChange `json:"changes"`
	}
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	var urls []string
	for _, l := range p.Repository.Links.Clone {
		urls = append(urls, l.Href)
	}
	c := collector{urls: urls}
	for _, ch := range p.Changes {
		c.add(bitbucketServerRef(ch), ch.ToHash)
	}
	return c.result()
}

// bitbucketServerRef returns the full ref name of a change.
func bitbucketServerRef(ch bitbucketServerChange) string {
	for _, id := range []string{ch.Ref.ID, ch.RefID} {
		if strings.HasPrefix(id, "refs/") {
			return id
		}
	}
	switch ch.Ref.Type {
	case "BRANCH":
		return "refs/heads/" + ch.Ref.DisplayID
	case "TAG":
		return "refs/tags/" + ch.Ref.DisplayID
	}
	return ""
}

type bitbucketCloudRef struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Target struct {
		Hash string `json:"hash"`
	} `json:"target"`
}

// parseBitbucketCloud parses a Bitbucket Cloud repo:push event into one
// Push per changed branch or tag, like parseBitbucketServer. A deleted ref
// (new is null) is reported from old, with After empty. URLs are the web
// URL plus https and ssh clone URLs built from full_name.
func parseBitbucketCloud(body []byte) (parsed, error) {
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
			Links    struct {
				HTML struct {
					Href string `json:"href"`
				} `json:"html"`
			} `json:"links"`
		} `json:"repository"`
		Push struct {
			Changes []struct {
				New *bitbucketCloudRef `json:"new"`
				Old *bitbucketCloudRef `json:"old"`
			} `json:"changes"`
		} `json:"push"`
	}
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	c := collector{urls: bitbucketCloudURLs(p.Repository.FullName, p.Repository.Links.HTML.Href)}
	for _, ch := range p.Push.Changes {
		switch {
		case ch.New != nil:
			c.add(bitbucketCloudRefName(ch.New), ch.New.Target.Hash)
		case ch.Old != nil:
			c.add(bitbucketCloudRefName(ch.Old), "")
		}
	}
	return c.result()
}

func bitbucketCloudURLs(fullName, html string) []string {
	urls := []string{html}
	owner, repo, ok := strings.Cut(fullName, "/")
	if ok && validPathPart(owner) && validPathPart(repo) {
		urls = append(urls, "https://bitbucket.org/"+fullName+".git", "git@bitbucket.org:"+fullName+".git")
	}
	return urls
}

func bitbucketCloudRefName(r *bitbucketCloudRef) string {
	switch r.Type {
	case "branch", "named_branch":
		return "refs/heads/" + r.Name
	case "tag":
		return "refs/tags/" + r.Name
	}
	return ""
}

// validPathPart accepts a Bitbucket workspace or repository slug.
func validPathPart(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

// collector gathers one Push per distinct ref for multi-change payloads.
type collector struct {
	urls   []string
	pushes []Push
	err    error
}

func (c *collector) add(ref, after string) {
	if len(c.pushes) >= maxPushes || ref == "" {
		return
	}
	p, err := newPush(ref, after, c.urls...)
	if err != nil {
		c.err = firstErr(c.err, err)
		return
	}
	if !slices.ContainsFunc(c.pushes, func(q Push) bool { return q.Branch == p.Branch && q.Tag == p.Tag }) {
		c.pushes = append(c.pushes, p)
	}
}

func (c *collector) result() (parsed, error) {
	if len(c.pushes) > 0 {
		return parsed{pushes: c.pushes}, nil
	}
	if c.err != nil {
		return parsed{}, c.err
	}
	if len(cleanURLs(c.urls)) == 0 {
		return parsed{}, errNoURL
	}
	return parsed{}, errNoChanges
}

// firstErr returns the first non-nil error.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// parseGeneric parses {"repository": URL, "branch": "main", "after": "sha"}
// (or "tag" instead of "branch"; "after" is optional).
func parseGeneric(body []byte) (parsed, error) {
	var p struct {
		Repository string `json:"repository"`
		Branch     string `json:"branch"`
		Tag        string `json:"tag"`
		After      string `json:"after"`
	}
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	var ref string
	switch {
	case p.Branch != "" && p.Tag != "":
		return parsed{}, errBranchAndTag
	case p.Branch != "":
		ref = "refs/heads/" + strings.TrimPrefix(p.Branch, "refs/heads/")
	case p.Tag != "":
		ref = "refs/tags/" + strings.TrimPrefix(p.Tag, "refs/tags/")
	}
	return onePush(ref, p.After, p.Repository)
}

// parseRegistry parses {"image": "registry.example.com/team/app", "tag": "v1"}.
func parseRegistry(body []byte) (parsed, error) {
	var raw struct {
		Image string `json:"image"`
		Tag   string `json:"tag"`
	}
	if err := decode(body, &raw); err != nil {
		return parsed{}, err
	}
	p := ImagePush{Image: strings.TrimSpace(raw.Image), Tag: strings.TrimSpace(raw.Tag)}
	if !validImage(p.Image) {
		return parsed{}, errImage
	}
	if !validImageTag(p.Tag) {
		return parsed{}, errImageTag
	}
	return parsed{image: &p}, nil
}

func onePush(ref, after string, urls ...string) (parsed, error) {
	p, err := newPush(ref, after, urls...)
	if err != nil {
		return parsed{}, err
	}
	return parsed{pushes: []Push{p}}, nil
}

// newPush validates ref, after and urls into a Push (Provider unset).
func newPush(ref, after string, urls ...string) (Push, error) {
	branch, tag, err := splitRef(ref)
	if err != nil {
		return Push{}, err
	}
	clean := cleanURLs(urls)
	if len(clean) == 0 {
		return Push{}, errNoURL
	}
	if !validCommit(after) {
		return Push{}, errCommit
	}
	return Push{URLs: clean, Branch: branch, Tag: tag, After: after}, nil
}

// splitRef turns refs/heads/X into branch X and refs/tags/X into tag X.
func splitRef(ref string) (branch, tag string, err error) {
	name, isBranch := strings.CutPrefix(ref, "refs/heads/")
	if !isBranch {
		var isTag bool
		if name, isTag = strings.CutPrefix(ref, "refs/tags/"); !isTag {
			if ref == "" {
				return "", "", errNoRef
			}
			return "", "", errRef
		}
	}
	if !validRefName(name) {
		return "", "", errRefName
	}
	if isBranch {
		return name, "", nil
	}
	return "", name, nil
}

// validRefName applies the rules of git check-ref-format to a branch or
// tag name (without its refs/heads/ or refs/tags/ prefix).
func validRefName(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) || s == "@" {
		return false
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") {
		return false
	}
	for _, bad := range []string{"..", "@{", "//", "/."} {
		if strings.Contains(s, bad) {
			return false
		}
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r)
	})
}

// validCommit accepts an empty or hex object id (4 to 64 digits).
func validCommit(s string) bool {
	if s == "" {
		return true
	}
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F')
	})
}

// cleanURLs trims, validates and deduplicates repository URLs, dropping
// user info from http(s) URLs. Unusable entries are dropped.
func cleanURLs(in []string) []string {
	var out []string
	for _, u := range in {
		if u = cleanURL(u); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func cleanURL(u string) string {
	u = strings.TrimSpace(u)
	if u == "" || len(u) > 2048 || !utf8.ValidString(u) ||
		strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ""
	}
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		if !strings.Contains(u, ":") { // neither scheme://... nor scp-like user@host:path
			return ""
		}
		return u
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		return ""
	}
	parsed.User = nil
	return parsed.String()
}

// validImage accepts an image repository such as
// "registry.example.com:5000/team/app" (no scheme, tag or digest; a colon
// only as the registry's port).
func validImage(s string) bool {
	if s == "" || len(s) > 512 || strings.Contains(s, "//") ||
		strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return false
	}
	host, _, hasPath := strings.Cut(s, "/")
	if strings.Count(s, ":") > 1 || strings.Contains(s, ":") && (!hasPath || !strings.Contains(host, ":")) {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && !strings.ContainsRune("._-/:", r) {
			return false
		}
	}
	return true
}

// validImageTag accepts an OCI tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validImageTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '_' && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
