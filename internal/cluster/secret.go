// Package cluster is Ferry's cluster registry. This file is its pure part:
// Argo CD's declarative cluster Secrets (a Secret labelled
// argocd.argoproj.io/secret-type: cluster, with data keys name, server,
// namespaces, clusterResources, project and config) read into a Cluster,
// turned into a client-go rest.Config, and rendered back as Secret data.
//
// A cluster's Config holds credentials. Its String, GoString, Format and
// LogValue methods print a redacted summary, and every error here names the
// Secret and the data key at fault without quoting any value.
package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// SecretTypeLabel is the label that marks Argo CD's typed Secrets; cluster
// Secrets carry it with the value "cluster".
const SecretTypeLabel = "argocd.argoproj.io/secret-type"

// InClusterServer is the API server address of the cluster Ferry runs in.
const InClusterServer = "https://kubernetes.default.svc"

// InClusterName is the name of the cluster Ferry runs in.
const InClusterName = "in-cluster"

// secretTypeCluster is SecretTypeLabel's value on cluster Secrets.
const secretTypeCluster = "cluster"

// The data keys of a cluster Secret.
const (
	keyName             = "name"
	keyServer           = "server"
	keyNamespaces       = "namespaces"
	keyClusterResources = "clusterResources"
	keyProject          = "project"
	keyConfig           = "config"
	keyShard            = "shard"
)

// maxNormalizedName is the longest name NameNormalized returns (a DNS
// subdomain's limit).
const maxNormalizedName = 253

// execAPIVersions are the exec credential API versions client-go runs.
var execAPIVersions = []string{
	"client.authentication.k8s.io/v1",
	"client.authentication.k8s.io/v1beta1",
}

// Cluster is a registered cluster.
type Cluster struct {
	// Name is the cluster's name (Application destinations may use it).
	Name string
	// Server is the API server URL, without a trailing slash.
	Server string
	// Namespaces, when set, limits the cluster to these namespaces.
	Namespaces []string
	// ClusterResources allows cluster-scoped resources when Namespaces is set.
	ClusterResources bool
	// Project, when set, scopes the cluster to one AppProject.
	Project string
	// Labels and Annotations are the Secret's metadata (without the
	// secret-type label and kubectl's last-applied annotation), exposed to
	// ApplicationSet cluster generators.
	Labels, Annotations map[string]string
	// Config is the connection settings, secrets included: never log or
	// print it other than through its own redacting methods.
	Config Config
	// SecretName is the Secret the cluster came from ("" for the in-cluster
	// entry).
	SecretName string
}

// Config is Argo CD's cluster config JSON (the Secret's "config" key).
type Config struct {
	// BearerToken authenticates with a bearer token.
	BearerToken string `json:"bearerToken,omitempty"`
	// Username and Password authenticate with basic auth.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLSClientConfig is the TLS settings.
	TLSClientConfig TLSClientConfig `json:"tlsClientConfig"`
	// ExecProviderConfig runs a program for credentials; FromSecret refuses
	// it unless Options.AllowExec.
	ExecProviderConfig *ExecProviderConfig `json:"execProviderConfig,omitempty"`
	// AWSAuthConfig is Argo CD's EKS IAM authentication; Ferry does not
	// support it.
	AWSAuthConfig *AWSAuthConfig `json:"awsAuthConfig,omitempty"`
	// DisableCompression turns off response compression.
	DisableCompression bool `json:"disableCompression,omitempty"`
	// ProxyURL is the HTTP(S) or SOCKS5 proxy to reach the API server by.
	ProxyURL string `json:"proxyUrl,omitempty"`
}

// TLSClientConfig is the TLS part of Config. The byte fields are PEM, base64
// encoded in the JSON.
type TLSClientConfig struct {
	// Insecure skips verifying the server's certificate.
	Insecure bool `json:"insecure"`
	// ServerName is the name to verify the server's certificate against.
	ServerName string `json:"serverName,omitempty"`
	// CAData is the PEM certificate authorities to trust.
	CAData []byte `json:"caData,omitempty"`
	// CertData and KeyData are the PEM client certificate and key.
	CertData []byte `json:"certData,omitempty"`
	KeyData  []byte `json:"keyData,omitempty"`
}

// ExecProviderConfig is a credential plugin, as in a kubeconfig's exec.
type ExecProviderConfig struct {
	// Command is the program to run.
	Command string `json:"command,omitempty"`
	// Args are its arguments.
	Args []string `json:"args,omitempty"`
	// Env is added to its environment.
	Env map[string]string `json:"env,omitempty"`
	// APIVersion is the ExecCredential version it speaks.
	APIVersion string `json:"apiVersion,omitempty"`
	// InstallHint is shown when Command is not found.
	InstallHint string `json:"installHint,omitempty"`
}

// AWSAuthConfig is Argo CD's EKS IAM authentication (read only to refuse it).
type AWSAuthConfig struct {
	// ClusterName is the EKS cluster's name.
	ClusterName string `json:"clusterName,omitempty"`
	// RoleARN is the IAM role to assume.
	RoleARN string `json:"roleARN,omitempty"`
	// Profile is the AWS profile to use.
	Profile string `json:"profile,omitempty"`
}

// Options control which credential kinds are accepted.
type Options struct {
	// AllowExec allows execProviderConfig (it runs a program named by
	// whoever can write cluster Secrets); off by default.
	AllowExec bool
}

// keyError is a problem with one data key of a cluster Secret. Its reason
// never quotes the key's value.
type keyError struct {
	secret, key, reason string
}

func (e *keyError) Error() string {
	if e.secret == "" {
		return fmt.Sprintf("key %q: %s", e.key, e.reason)
	}
	return fmt.Sprintf("cluster Secret %q: key %q: %s", e.secret, e.key, e.reason)
}

func errKey(key, format string, args ...any) error {
	return &keyError{key: key, reason: fmt.Sprintf(format, args...)}
}

// FromSecret reads a cluster Secret (given as its name, labels, annotations
// and data); the caller selects Secrets by SecretTypeLabel. Errors name the
// Secret and the key at fault and never include secret values. A config with
// execProviderConfig is an error unless opts.AllowExec, awsAuthConfig is an
// error, and so is a missing server. Without a name, the in-cluster server
// is named InClusterName; other servers keep an empty name, as in Argo CD.
func FromSecret(name string, labels, annotations map[string]string, data map[string][]byte, opts Options) (Cluster, error) {
	c, err := fromData(data, opts)
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			ke.secret = name
		}
		return Cluster{}, err
	}
	c.SecretName = name
	c.Labels = metadata(labels, SecretTypeLabel)
	c.Annotations = metadata(annotations, corev1.LastAppliedConfigAnnotation)
	return c, nil
}

func fromData(data map[string][]byte, opts Options) (Cluster, error) {
	c := Cluster{
		Name:       strings.TrimSpace(string(data[keyName])),
		Server:     NormalizeServer(string(data[keyServer])),
		Namespaces: splitNamespaces(string(data[keyNamespaces])),
		Project:    strings.TrimSpace(string(data[keyProject])),
	}
	if err := checkServer(c.Server, c.Name); err != nil {
		return Cluster{}, err
	}
	var err error
	if c.ClusterResources, err = parseClusterResources(data[keyClusterResources]); err != nil {
		return Cluster{}, err
	}
	if c.Config, err = parseConfig(data[keyConfig]); err != nil {
		return Cluster{}, err
	}
	if err := c.Config.check(opts); err != nil {
		return Cluster{}, err
	}
	if c.Name == "" && c.Server == InClusterServer {
		c.Name = InClusterName
	}
	return c, nil
}

// checkServer checks the API server URL without quoting it (it could hold
// credentials).
func checkServer(server, name string) error {
	if server == "" && name == "" {
		return errKey(keyServer, "neither server nor name is set")
	}
	if server == "" {
		return errKey(keyServer, "is missing")
	}
	u, err := url.Parse(server)
	switch {
	case err != nil:
		return errKey(keyServer, "is not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errKey(keyServer, "must be an https:// or http:// URL")
	case u.Host == "":
		return errKey(keyServer, "has no host")
	case u.User != nil:
		return errKey(keyServer, "must not hold credentials (put them in config)")
	}
	return nil
}

func splitNamespaces(s string) []string {
	var out []string
	for ns := range strings.SplitSeq(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

func parseClusterResources(raw []byte) (bool, error) {
	switch strings.TrimSpace(string(raw)) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errKey(keyClusterResources, `must be "true" or "false"`)
}

// parseConfig decodes the config JSON; an absent config is an empty one.
func parseConfig(raw []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, errKey(keyConfig, "%s", describeJSONError(err))
	}
	return c, nil
}

// describeJSONError explains a decoding error without the input's text
// (encoding/json's messages can quote it).
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("is not valid JSON (error at byte %d)", syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return "must be a JSON object"
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s must be a %s", typ.Field, typ.Type)
	case errors.As(err, &b64):
		return "a caData, certData or keyData field is not valid base64"
	}
	return "is not a valid cluster config"
}

// check validates the config; opts decides whether exec is allowed.
func (c Config) check(opts Options) error {
	switch {
	case c.AWSAuthConfig != nil:
		return errKey(keyConfig, "awsAuthConfig is not supported (use a bearerToken, or execProviderConfig running aws eks get-token)")
	case c.ExecProviderConfig != nil && !opts.AllowExec:
		return errKey(keyConfig, "execProviderConfig runs a program; start the controller with --allow-exec-credentials to allow it")
	case c.BearerToken != "" && (c.Username != "" || c.Password != ""):
		return errKey(keyConfig, "bearerToken and username/password are both set; use one")
	}
	if err := c.TLSClientConfig.check(); err != nil {
		return err
	}
	if err := c.ExecProviderConfig.check(); err != nil {
		return err
	}
	return checkProxy(c.ProxyURL)
}

func (t TLSClientConfig) check() error {
	switch {
	case t.Insecure && len(t.CAData) > 0:
		return errKey(keyConfig, "tlsClientConfig sets both insecure and caData; use one")
	case (len(t.CertData) > 0) != (len(t.KeyData) > 0):
		return errKey(keyConfig, "tlsClientConfig.certData and keyData must be set together")
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"caData", t.CAData}, {"certData", t.CertData}, {"keyData", t.KeyData}} {
		if len(f.data) > 0 && !hasPEM(f.data) {
			return errKey(keyConfig, "tlsClientConfig.%s is not base64-encoded PEM", f.name)
		}
	}
	return nil
}

func hasPEM(data []byte) bool {
	block, _ := pem.Decode(data)
	return block != nil
}

func (e *ExecProviderConfig) check() error {
	switch {
	case e == nil:
		return nil
	case e.Command == "":
		return errKey(keyConfig, "execProviderConfig.command is missing")
	case !slices.Contains(execAPIVersions, e.APIVersion):
		return errKey(keyConfig, "execProviderConfig.apiVersion must be one of %s", strings.Join(execAPIVersions, ", "))
	}
	return nil
}

// checkProxy checks the proxy URL without quoting it (it could hold
// credentials).
func checkProxy(proxy string) error {
	if proxy == "" {
		return nil
	}
	u, err := url.Parse(proxy)
	switch {
	case err != nil:
		return errKey(keyConfig, "proxyUrl is not a URL")
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5":
		return errKey(keyConfig, "proxyUrl must be an http://, https:// or socks5:// URL")
	case u.Host == "":
		return errKey(keyConfig, "proxyUrl has no host")
	}
	return nil
}

// metadata copies a Secret's labels or annotations without the drop key.
func metadata(in map[string]string, drop string) map[string]string {
	out := maps.Clone(in)
	delete(out, drop)
	if len(out) == 0 {
		return nil
	}
	return out
}

// RESTConfig builds the client configuration: bearer token or basic auth,
// TLS (CA, client cert/key, insecure, serverName), the exec provider (which
// FromSecret admits only when allowed), proxy URL and disabled compression.
// Timeouts, rate limits and the user agent are the caller's, and so is
// swapping in rest.InClusterConfig for the in-cluster entry.
func (c Cluster) RESTConfig() (*rest.Config, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cfg := c.Config
	rc := &rest.Config{
		Host:               c.Server,
		BearerToken:        cfg.BearerToken,
		Username:           cfg.Username,
		Password:           cfg.Password,
		TLSClientConfig:    cfg.TLSClientConfig.rest(),
		ExecProvider:       cfg.ExecProviderConfig.rest(),
		DisableCompression: cfg.DisableCompression,
	}
	if cfg.ProxyURL != "" {
		u, _ := url.Parse(cfg.ProxyURL) // checked
		rc.Proxy = http.ProxyURL(u)
	}
	return rc, nil
}

// check validates a cluster built by hand the way FromSecret validates a
// Secret, exec allowed.
func (c Cluster) check() error {
	err := checkServer(c.Server, c.Name)
	if err == nil {
		err = c.Config.check(Options{AllowExec: true})
	}
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c, err)
	}
	return nil
}

func (t TLSClientConfig) rest() rest.TLSClientConfig {
	return rest.TLSClientConfig{
		Insecure:   t.Insecure,
		ServerName: t.ServerName,
		CAData:     bytes.Clone(t.CAData),
		CertData:   bytes.Clone(t.CertData),
		KeyData:    bytes.Clone(t.KeyData),
	}
}

func (e *ExecProviderConfig) rest() *clientcmdapi.ExecConfig {
	if e == nil {
		return nil
	}
	env := make([]clientcmdapi.ExecEnvVar, 0, len(e.Env))
	for _, k := range slices.Sorted(maps.Keys(e.Env)) {
		env = append(env, clientcmdapi.ExecEnvVar{Name: k, Value: e.Env[k]})
	}
	return &clientcmdapi.ExecConfig{
		Command:         e.Command,
		Args:            slices.Clone(e.Args),
		Env:             env,
		APIVersion:      e.APIVersion,
		InstallHint:     e.InstallHint,
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}
}

// ToSecretData renders a cluster as a Secret's data and labels (the inverse
// of FromSecret), for `ferry cluster add`: keys name, server and config, and
// namespaces, clusterResources and project when set; labels are c.Labels
// plus the secret-type label. As in Argo CD, an empty name becomes the
// server (InClusterName for the in-cluster server). Annotations are the
// caller's.
func ToSecretData(c Cluster) (data map[string][]byte, labels map[string]string, err error) {
	c.Server = NormalizeServer(c.Server)
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	config, err := json.Marshal(c.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: encode config: %w", c, err)
	}
	data = map[string][]byte{
		keyName:   []byte(defaultName(c.Name, c.Server)),
		keyServer: []byte(c.Server),
		keyConfig: config,
	}
	addOptional(data, c)
	labels = maps.Clone(c.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[SecretTypeLabel] = secretTypeCluster
	return data, labels, nil
}

func defaultName(name, server string) string {
	switch {
	case name != "":
		return name
	case server == InClusterServer:
		return InClusterName
	}
	return server
}

func addOptional(data map[string][]byte, c Cluster) {
	if len(c.Namespaces) > 0 {
		data[keyNamespaces] = []byte(strings.Join(c.Namespaces, ","))
	}
	if c.ClusterResources {
		data[keyClusterResources] = []byte("true")
	}
	if c.Project != "" {
		data[keyProject] = []byte(c.Project)
	}
}

// NameNormalized is Argo CD's nameNormalized (its SanitizeName): lowercase,
// characters outside [a-z0-9-.] replaced with '-', cut to 253 characters,
// and leading or trailing '-' and '.' trimmed.
func NameNormalized(name string) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, strings.ToLower(name))
	if len(n) > maxNormalizedName {
		n = n[:maxNormalizedName]
	}
	return strings.Trim(n, "-.")
}

// String prints name and server only.
func (c Cluster) String() string {
	server := c.Server
	if u, err := url.Parse(server); err == nil && u.User != nil {
		server = u.Redacted()
	}
	if c.Name == "" {
		return server
	}
	return fmt.Sprintf("%s (%s)", c.Name, server)
}

// LogValue logs name and server only (log/slog would otherwise encode the
// Config's fields, secrets included).
func (c Cluster) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", c.Name), slog.String("server", c.Server))
}

// String returns a summary of the config that names the kinds of
// credentials it holds, never their values.
func (c Config) String() string {
	return "Config{" + c.summary() + "}"
}

// GoString is String's counterpart for %#v: still redacted.
func (c Config) GoString() string {
	return "cluster.Config{" + c.summary() + "}"
}

// Format prints the redacted summary for every verb, so %v, %+v, %#v, %s,
// %x or %d never print a secret.
func (c Config) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'v' && f.Flag('#') {
		s = c.GoString()
	}
	_, _ = io.WriteString(f, s)
}

// LogValue logs the redacted summary (log/slog would otherwise encode the
// fields, secrets included).
func (c Config) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

func (c Config) summary() string {
	return fmt.Sprintf("credentials=%s caData=%t insecure=%t proxy=%t disableCompression=%t (secrets redacted)",
		c.credentialKinds(), len(c.TLSClientConfig.CAData) > 0, c.TLSClientConfig.Insecure,
		c.ProxyURL != "", c.DisableCompression)
}

func (c Config) credentialKinds() string {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"bearerToken", c.BearerToken != ""},
		{"basicAuth", c.Username != "" || c.Password != ""},
		{"clientCert", len(c.TLSClientConfig.CertData) > 0 || len(c.TLSClientConfig.KeyData) > 0},
		{"execProvider", c.ExecProviderConfig != nil},
		{"awsAuth", c.AWSAuthConfig != nil},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	return strings.Join(kinds, ",")
}

// Format prints a redacted summary for every verb (the client key is a
// secret).
func (t TLSClientConfig) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "TLSClientConfig{insecure=%t serverName=%q caData=%t clientCert=%t (secrets redacted)}",
		t.Insecure, t.ServerName, len(t.CAData) > 0, len(t.CertData) > 0 || len(t.KeyData) > 0)
}

// Format prints a redacted summary for every verb (arguments and
// environment may hold secrets).
func (e ExecProviderConfig) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "ExecProviderConfig{apiVersion=%q args=%d env=%d (secrets redacted)}",
		e.APIVersion, len(e.Args), len(e.Env))
}
