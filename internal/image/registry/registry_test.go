package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const sigTag = "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"

var baseTags = []string{"1.2.3", "1.2.4", "2.0.0-rc.1", "latest", sigTag}

// startRegistry serves an in-memory OCI registry, optionally wrapped, on
// loopback and returns its host:port.
func startRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushTags pushes one random image to host/repo under every tag.
func pushTags(t *testing.T, host, repo string, tags []string, opts ...remote.Option) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, tag := range tags {
		ref, err := name.NewTag(host + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			err = remote.Write(ref, img, opts...)
		} else {
			err = remote.Tag(ref, img, opts...)
		}
		if err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
	}
}

// numberedTags returns n distinct valid tags.
func numberedTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("v%05d", i)
	}
	return tags
}

// pager adds the Link header the in-memory registry never sends: it caps n,
// drops tags not after last (the in-memory registry returns the whole list
// when last is its final tag) and links to the next page when a page is full.
type pager struct {
	next     http.Handler
	max      int
	requests atomic.Int32
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tags/list") {
		p.next.ServeHTTP(w, r)
		return
	}
	p.requests.Add(1)
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n <= 0 || n > p.max {
		n = p.max
	}
	q.Set("n", strconv.Itoa(n))
	inner := r.Clone(r.Context())
	inner.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, inner)
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	p.writePage(w, r, rec.Body.Bytes(), q.Get("last"), n)
}

func (p *pager) writePage(w http.ResponseWriter, r *http.Request, body []byte, last string, n int) {
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	list.Tags = slices.DeleteFunc(list.Tags, func(t string) bool { return last != "" && t <= last })
	if len(list.Tags) == n {
		link := fmt.Sprintf("%s?n=%d&last=%s", r.URL.Path, n, url.QueryEscape(list.Tags[n-1]))
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", link))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// requireBasic answers 401 with a Basic challenge unless the request carries
// user:pass.
func requireBasic(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); ok && u == user && p == pass {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="ferry-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials for ferry-test"}]}`)
		})
	}
}

// startFake serves GET /v2/ and GET /v2/myapp/tags/list with tagsList.
func startFake(t *testing.T, tagsList http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/{$}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /v2/myapp/tags/list", tagsList)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// serveTags answers a tag list with all tags in one page.
func serveTags(tags []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"name": "myapp", "tags": tags})
	}
}

func mustContain(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", subs)
	}
	t.Log(err)
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func dockerConfigJSON(t *testing.T, auths map[string]map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScanListsTagsAndExcludesSignatures(t *testing.T) {
	host := startRegistry(t, nil)
	pushTags(t, host, "myapp", baseTags)

	res, err := Scan(context.Background(), host+"/myapp", Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.2.3", "1.2.4", "2.0.0-rc.1", "latest"}
	if !slices.Equal(res.Tags, want) {
		t.Errorf("tags = %v, want %v", res.Tags, want)
	}
	if res.CanonicalName != host+"/myapp" || res.Excluded != 1 || res.Dropped != 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestScanExclusions(t *testing.T) {
	host := startRegistry(t, nil)
	pushTags(t, host, "myapp", baseTags)
	image := host + "/myapp"

	t.Run("empty non-nil means none", func(t *testing.T) {
		res, err := Scan(context.Background(), image, Options{Exclusions: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Tags) != 5 || res.Excluded != 0 {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("custom", func(t *testing.T) {
		res, err := Scan(context.Background(), image, Options{Exclusions: []string{`^latest$`, `-rc\.`}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1.2.3", "1.2.4", sigTag}
		if !slices.Equal(res.Tags, want) || res.Excluded != 2 {
			t.Errorf("result = %+v, want tags %v", res, want)
		}
	})
	t.Run("invalid regexp", func(t *testing.T) {
		_, err := Scan(context.Background(), image, Options{Exclusions: []string{`(`}})
		mustContain(t, err, image, "invalid exclusion", `"("`)
	})
}

func TestScanBasicAuth(t *testing.T) {
	const user, pass = "ferry", "s3cret-Passw0rd"
	host := startRegistry(t, requireBasic(user, pass))
	pushTags(t, host, "myapp", baseTags, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	image := host + "/myapp"
	encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))

	good := map[string]map[string]map[string]string{
		"auth field":             {host: {"auth": encoded}},
		"username and password":  {host: {"username": user, "password": pass}},
		"key with scheme, path":  {"http://" + host + "/v2/": {"auth": encoded}},
		"other hosts are unused": {"registry.example.com": {"auth": "eDp5"}, host: {"username": user, "password": pass}},
	}
	for name, auths := range good {
		t.Run(name, func(t *testing.T) {
			res, err := Scan(context.Background(), image, Options{DockerConfigJSON: dockerConfigJSON(t, auths)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tags) != 4 {
				t.Errorf("tags = %v", res.Tags)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "wr0ng-Passw0rd"
		cfg := dockerConfigJSON(t, map[string]map[string]string{host: {"username": user, "password": wrong}})
		_, err := Scan(context.Background(), image, Options{DockerConfigJSON: cfg})
		mustContain(t, err, image, "denied", "401", "bad credentials for ferry-test")
		wrongB64 := base64.StdEncoding.EncodeToString([]byte(user + ":" + wrong))
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), wrongB64) {
			t.Errorf("error leaks the credentials: %v", err)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		_, err := Scan(context.Background(), image, Options{})
		mustContain(t, err, "401")
	})
}

func TestScanInvalidDockerConfig(t *testing.T) {
	host := startFake(t, serveTags(nil))
	for name, cfg := range map[string]string{
		"not json":   `{"auths": {`,
		"bad base64": `{"auths": {"` + host + `": {"auth": "!!not-base64-s3cret!!"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Scan(context.Background(), host+"/myapp", Options{DockerConfigJSON: []byte(cfg)})
			mustContain(t, err, host+"/myapp", "DockerConfigJSON")
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestScanPagination(t *testing.T) {
	cases := []struct {
		name                string
		tags, max, pageSize int
		wantRequests        int32
	}{
		{name: "partial last page", tags: 25, max: 10, wantRequests: 3},
		{name: "empty last page", tags: 20, max: 10, wantRequests: 3},
		{name: "client page size", tags: 25, max: 100, pageSize: 7, wantRequests: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &pager{max: tc.max}
			host := startRegistry(t, func(h http.Handler) http.Handler { p.next = h; return p })
			tags := numberedTags(tc.tags)
			pushTags(t, host, "myapp", tags)

			res, err := Scan(context.Background(), host+"/myapp", Options{PageSize: tc.pageSize})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Tags, tags) {
				t.Errorf("got %d tags %v, want %d", len(res.Tags), res.Tags, len(tags))
			}
			if got := p.requests.Load(); got != tc.wantRequests {
				t.Errorf("tags/list requests = %d, want %d", got, tc.wantRequests)
			}
		})
	}
}

func TestScanMaxTagsAcrossPages(t *testing.T) {
	p := &pager{max: 50}
	host := startRegistry(t, func(h http.Handler) http.Handler { p.next = h; return p })
	pushTags(t, host, "myapp", numberedTags(250))

	_, err := Scan(context.Background(), host+"/myapp", Options{MaxTags: 100})
	mustContain(t, err, host+"/myapp", "more than 100 tags", "MaxTags")
	if got := p.requests.Load(); got != 3 {
		t.Errorf("tags/list requests = %d, want 3 (stop once the bound is passed)", got)
	}
}

func TestScanLargeSinglePage(t *testing.T) {
	host := startFake(t, serveTags(numberedTags(10000)))

	res, err := Scan(context.Background(), host+"/myapp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tags) != 10000 {
		t.Errorf("got %d tags, want 10000", len(res.Tags))
	}

	_, err = Scan(context.Background(), host+"/myapp", Options{MaxTags: 5000})
	mustContain(t, err, "5000")
}

func TestScanServerError(t *testing.T) {
	var requests atomic.Int32
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "backend exploded", http.StatusInternalServerError)
	})

	start := time.Now()
	_, err := Scan(context.Background(), host+"/myapp", Options{})
	mustContain(t, err, host+"/myapp", "HTTP 500", "backend exploded")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s, want a short retry backoff", d)
	}
	if got := requests.Load(); got < 1 || got > 3 {
		t.Errorf("tags/list requests = %d, want a small number of retries", got)
	}
}

func TestScanRedactsEchoedCredentials(t *testing.T) {
	const user, pass = "ferry", "echo-Passw0rd"
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		msg := fmt.Sprintf("rejected %s:%s (%s)", u, p, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": msg}}})
	})
	cfg := dockerConfigJSON(t, map[string]map[string]string{host: {"username": user, "password": pass}})
	_, err := Scan(context.Background(), host+"/myapp", Options{DockerConfigJSON: cfg})
	mustContain(t, err, "HTTP 403", "rejected ferry:<redacted>")
	encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), encoded) {
		t.Errorf("error leaks the credentials: %v", err)
	}
}

func TestScanPaginationLoop(t *testing.T) {
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</v2/myapp/tags/list?n=1&last=a>; rel="next"`)
		serveTags([]string{"a"})(w, r)
	})
	_, err := Scan(context.Background(), host+"/myapp", Options{})
	mustContain(t, err, host+"/myapp", "pagination loops")
}

func TestScanMalformedJSON(t *testing.T) {
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"name":"myapp","tags":["1.0",`)
	})
	_, err := Scan(context.Background(), host+"/myapp", Options{})
	mustContain(t, err, host+"/myapp", "malformed")
}

func TestScanDropsInvalidTags(t *testing.T) {
	long := strings.Repeat("a", 129)
	max := strings.Repeat("b", 128)
	host := startFake(t, serveTags([]string{
		"1.0", "1.0", "-bad", ".bad", "with space", "a/b", "", long, max, "ok_1", "_x", "1.0.sig", "é",
	}))

	res, err := Scan(context.Background(), host+"/myapp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.0", "_x", max, "ok_1"}
	if !slices.Equal(res.Tags, want) || res.Dropped != 7 || res.Excluded != 1 {
		t.Errorf("result = %+v, want tags %v, 7 dropped, 1 excluded", res, want)
	}

	res, err = Scan(context.Background(), host+"/myapp", Options{MaxTagLength: 4})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"1.0", "_x", "ok_1"}
	if !slices.Equal(res.Tags, want) || res.Dropped != 9 {
		t.Errorf("result = %+v, want tags %v, 9 dropped", res, want)
	}
}

func TestScanBodyCap(t *testing.T) {
	host := startFake(t, serveTags(numberedTags(20000)))
	_, err := scan(context.Background(), host+"/myapp", Options{}, 64<<10)
	mustContain(t, err, host+"/myapp", "65536 bytes cap")

	var e *bodyTooLargeError
	if !errors.As(err, &e) {
		t.Errorf("error %v does not wrap bodyTooLargeError", err)
	}
	if got := (&bodyTooLargeError{limit: maxBodyBytes}).Error(); !strings.Contains(got, "64 MiB") {
		t.Errorf("default cap message = %q", got)
	}
}

// startSlow serves a tag list that blocks until the client gives up.
func startSlow(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	return host
}

func TestScanCancel(t *testing.T) {
	host := startSlow(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)

	start := time.Now()
	_, err := Scan(ctx, host+"/myapp", Options{})
	mustContain(t, err, host+"/myapp", "canceled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s after cancellation", d)
	}
}

func TestScanTimeout(t *testing.T) {
	host := startSlow(t)

	start := time.Now()
	_, err := Scan(context.Background(), host+"/myapp", Options{Timeout: 300 * time.Millisecond})
	mustContain(t, err, host+"/myapp", "timed out after 300ms")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s for a 300ms timeout", d)
	}
}

func TestScanUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()

	_, err := Scan(context.Background(), host+"/myapp", Options{Insecure: true})
	mustContain(t, err, host+"/myapp", "unreachable")
}

func TestScanNotFound(t *testing.T) {
	host := startRegistry(t, nil)
	_, err := Scan(context.Background(), host+"/missing", Options{})
	mustContain(t, err, host+"/missing", "HTTP 404")
}

func TestScanInvalidImage(t *testing.T) {
	_, err := Scan(context.Background(), "127.0.0.1:5000/My App", Options{})
	mustContain(t, err, "My App", "invalid image name")
}

func TestScanUserAgent(t *testing.T) {
	var agent atomic.Value
	host := startFake(t, func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.UserAgent())
		serveTags([]string{"1.0"})(w, r)
	})
	if _, err := Scan(context.Background(), host+"/myapp", Options{UserAgent: "ferry-test/1.0"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := agent.Load().(string); !strings.Contains(got, "ferry-test/1.0") {
		t.Errorf("user agent = %q", got)
	}
}

func TestNormaliseHost(t *testing.T) {
	for key, want := range map[string]string{
		"127.0.0.1:5000":                   "127.0.0.1:5000",
		"http://127.0.0.1:5000/v2/":        "127.0.0.1:5000",
		"https://Registry.Example.com/v1/": "registry.example.com",
		"registry.example.com/team/app":    "registry.example.com",
		" registry.example.com:443 ":       "registry.example.com:443",
		"":                                 "",
	} {
		if got := normaliseHost(key); got != want {
			t.Errorf("normaliseHost(%q) = %q, want %q", key, got, want)
		}
	}
}
