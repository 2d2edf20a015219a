package notify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHub App authentication, Argo CD's only form for service.github:
// appID, installationID and privateKey. The service signs a JWT with the
// App's key, exchanges it for an installation token (a request before the
// API calls, chained by its reply) and keeps the token until a minute
// before it expires, as ghinstallation does.
//
// No JWT library is among Ferry's dependencies: an RS256 JWT is a
// PKCS #1 v1.5 signature of two base64url JSON documents, signed here with
// crypto/rsa.

// githubApp is an App installation's credentials and its cached token.
type githubApp struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	now                   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// looseString is a YAML string or number (Argo CD reads appID and
// installationID as either).
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = looseString(v)
		return nil
	}
	if string(b) != "null" {
		*s = looseString(b)
	}
	return nil
}

// parseGitHubApp reads the App's options; nil when none is set.
func parseGitHubApp(p *parser, key, value string) (*githubApp, error) {
	var s struct {
		AppID          looseString `json:"appID"`
		InstallationID looseString `json:"installationID"`
		PrivateKey     string      `json:"privateKey"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if s.AppID == "" && s.InstallationID == "" && s.PrivateKey == "" {
		return nil, nil
	}
	appID, installationID := string(s.AppID), string(s.InstallationID)
	if err := p.expandAll(key, &appID, &installationID, &s.PrivateKey); err != nil {
		return nil, err
	}
	p.sensitive(s.PrivateKey)
	a := &githubApp{now: time.Now}
	for _, f := range []struct {
		name, value string
		dst         *int64
	}{{"appID", appID, &a.appID}, {"installationID", installationID, &a.installationID}} {
		if f.value == "" {
			return nil, fmt.Errorf("%s: %s is required with a GitHub App", key, f.name)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(f.value), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %s is not a positive integer", key, f.name)
		}
		*f.dst = n
	}
	if s.PrivateKey == "" {
		return nil, fmt.Errorf("%s: privateKey is required with a GitHub App", key)
	}
	k, err := parseRSAKey(s.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%s: privateKey: %w", key, err)
	}
	a.key = k
	return a, nil
}

// parseRSAKey reads a PEM RSA private key, PKCS #1 or PKCS #8. Errors never
// show the key.
func parseRSAKey(text string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("cannot parse the PEM block as an RSA private key (PKCS #1 or PKCS #8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key (GitHub Apps' keys are RSA)")
	}
	return rk, nil
}

// jwt is the App's JSON Web Token: RS256, issued by the App a minute ago
// (clock drift), valid 9 minutes from now (GitHub allows 10 at most).
func (a *githubApp) jwt() (string, error) {
	now := a.now()
	claims, err := json.Marshal(struct {
		IAT int64  `json:"iat"`
		EXP int64  `json:"exp"`
		ISS string `json:"iss"`
	}{now.Add(-time.Minute).Unix(), now.Add(9 * time.Minute).Unix(), strconv.FormatInt(a.appID, 10)})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("GitHub App: signing the JWT: %w", err)
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// cached is the installation token while it has more than a minute left.
func (a *githubApp) cached() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == "" || !a.now().Before(a.expires.Add(-time.Minute)) {
		return ""
	}
	return a.token
}

// tokenRequest asks the API at base for an installation token.
func (a *githubApp) tokenRequest(base string) (outbound, error) {
	jwt, err := a.jwt()
	if err != nil {
		return outbound{}, err
	}
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("Authorization", "Bearer "+jwt)
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	return outbound{method: http.MethodPost, header: h, secrets: []string{jwt},
		url: fmt.Sprintf("%s/app/installations/%d/access_tokens", base, a.installationID)}, nil
}

// store reads the access_tokens reply, keeps its token and returns it.
func (a *githubApp) store(body []byte) (string, error) {
	var r struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		return "", errors.New("GitHub App: the access_tokens reply has no token")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token, a.expires = r.Token, r.ExpiresAt // a zero expiry: used once, not cached
	return r.Token, nil
}
