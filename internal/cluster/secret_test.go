package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Secret values the tests check never show up in errors or printed output.
const (
	token    = "s3cr3t-t0ken"
	password = "hunter2-pw"
	envValue = "env-s3cr3t"
	argValue = "--token=arg-s3cr3t"
	server   = "https://prod.example.com:6443"
)

type pemPair struct{ cert, key []byte }

// testPair is a self-signed certificate and its key, used as both CA and
// client certificate so client-go can build a real transport from them.
var testPair = sync.OnceValue(func() pemPair {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pemPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
})

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// data is a cluster Secret's data for server with the given config JSON;
// kv adds more keys.
func data(config []byte, kv ...string) map[string][]byte {
	d := map[string][]byte{"name": []byte("prod"), "server": []byte(server + "/")}
	if config != nil {
		d["config"] = config
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = []byte(kv[i+1])
	}
	return d
}

func execConfig() map[string]any {
	return map[string]any{
		"command":    "/usr/local/bin/get-token",
		"args":       []string{"eks", argValue},
		"env":        map[string]string{"Z_SECRET": envValue, "A_REGION": "eu-west-1"},
		"apiVersion": "client.authentication.k8s.io/v1beta1",
	}
}

func TestFromSecretRESTConfig(t *testing.T) {
	pair := testPair()
	tests := []struct {
		name   string
		config map[string]any
		opts   Options
		check  func(t *testing.T, rc *rest.Config)
	}{{
		name: "bearer token with CA",
		config: map[string]any{"bearerToken": token, "tlsClientConfig": map[string]any{
			"caData": pair.cert, "serverName": "api.internal"}},
		check: func(t *testing.T, rc *rest.Config) {
			if rc.BearerToken != token || !bytes.Equal(rc.CAData, pair.cert) || rc.ServerName != "api.internal" {
				t.Errorf("token %t, CA decoded %t, serverName %q", rc.BearerToken == token, bytes.Equal(rc.CAData, pair.cert), rc.ServerName)
			}
		},
	}, {
		name:   "basic auth",
		config: map[string]any{"username": "admin", "password": password},
		check: func(t *testing.T, rc *rest.Config) {
			if rc.Username != "admin" || rc.Password != password || rc.BearerToken != "" {
				t.Errorf("username %q, password set %t, token set %t", rc.Username, rc.Password == password, rc.BearerToken != "")
			}
		},
	}, {
		name:   "insecure",
		config: map[string]any{"bearerToken": token, "tlsClientConfig": map[string]any{"insecure": true}},
		check: func(t *testing.T, rc *rest.Config) {
			if !rc.Insecure || rc.CAData != nil {
				t.Errorf("insecure %t, CAData %d bytes", rc.Insecure, len(rc.CAData))
			}
		},
	}, {
		name: "client certificate",
		config: map[string]any{"tlsClientConfig": map[string]any{
			"caData": pair.cert, "certData": pair.cert, "keyData": pair.key}},
		check: func(t *testing.T, rc *rest.Config) {
			if !bytes.Equal(rc.CertData, pair.cert) || !bytes.Equal(rc.KeyData, pair.key) {
				t.Error("client certificate or key not decoded")
			}
		},
	}, {
		name:   "exec provider allowed",
		config: map[string]any{"execProviderConfig": execConfig()},
		opts:   Options{AllowExec: true},
		check: func(t *testing.T, rc *rest.Config) {
			want := &clientcmdapi.ExecConfig{
				Command:         "/usr/local/bin/get-token",
				Args:            []string{"eks", argValue},
				Env:             []clientcmdapi.ExecEnvVar{{Name: "A_REGION", Value: "eu-west-1"}, {Name: "Z_SECRET", Value: envValue}},
				APIVersion:      "client.authentication.k8s.io/v1beta1",
				InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
			}
			if !reflect.DeepEqual(rc.ExecProvider, want) {
				t.Error("ExecProvider differs from the config")
			}
		},
	}, {
		name:   "proxy and compression",
		config: map[string]any{"proxyUrl": "http://proxy.example.com:3128", "disableCompression": true},
		check: func(t *testing.T, rc *rest.Config) {
			req, _ := http.NewRequest(http.MethodGet, server, nil)
			u, err := rc.Proxy(req)
			if err != nil || u.String() != "http://proxy.example.com:3128" || !rc.DisableCompression {
				t.Errorf("proxy %v (%v), disableCompression %t", u, err, rc.DisableCompression)
			}
		},
	}, {
		name:  "no config",
		check: func(t *testing.T, rc *rest.Config) {},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var config []byte
			if tt.config != nil {
				config = mustJSON(t, tt.config)
			}
			c, err := FromSecret("prod-secret", nil, nil, data(config), tt.opts)
			if err != nil {
				t.Fatalf("FromSecret: %v", err)
			}
			rc, err := c.RESTConfig()
			if err != nil {
				t.Fatalf("RESTConfig: %v", err)
			}
			if rc.Host != server {
				t.Errorf("Host = %q, want %q", rc.Host, server)
			}
			tt.check(t, rc)
			if _, err := rest.TransportFor(rc); err != nil {
				t.Errorf("client-go rejects the config: %v", err)
			}
		})
	}
}

func TestFromSecretErrors(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		data map[string][]byte
		opts Options
		want []string // substrings of the error, besides the Secret's name
		deny []string // substrings it must not have
	}{{
		name: "exec refused by default",
		data: data(mustJSON(t, map[string]any{"execProviderConfig": execConfig()})),
		want: []string{`key "config"`, "execProviderConfig runs a program", "--allow-exec-credentials"},
		deny: []string{envValue, argValue, "get-token"},
	}, {
		name: "exec without command",
		data: data([]byte(`{"execProviderConfig":{"apiVersion":"client.authentication.k8s.io/v1"}}`)),
		opts: Options{AllowExec: true},
		want: []string{"execProviderConfig.command is missing"},
	}, {
		name: "exec with unknown apiVersion",
		data: data([]byte(`{"execProviderConfig":{"command":"x","apiVersion":"v1"}}`)),
		opts: Options{AllowExec: true},
		want: []string{"execProviderConfig.apiVersion must be one of"},
	}, {
		name: "aws auth refused",
		data: data([]byte(`{"awsAuthConfig":{"clusterName":"prod","roleARN":"arn:aws:iam::1:role/x"}}`)),
		opts: Options{AllowExec: true},
		want: []string{`key "config"`, "awsAuthConfig is not supported"},
		deny: []string{"arn:aws"},
	}, {
		name: "missing server",
		data: map[string][]byte{"name": []byte("prod"), "config": []byte(`{"bearerToken":"` + token + `"}`)},
		want: []string{`key "server"`, "is missing"},
	}, {
		name: "neither server nor name",
		data: map[string][]byte{"config": []byte(`{}`)},
		want: []string{`key "server"`, "neither server nor name"},
	}, {
		name: "server not https",
		data: data(nil, "server", "ftp://prod.example.com"),
		want: []string{`key "server"`, "https://"},
	}, {
		name: "server with credentials",
		data: data(nil, "server", "https://admin:"+password+"@prod.example.com"),
		want: []string{`key "server"`, "credentials"},
	}, {
		name: "truncated config JSON",
		data: data([]byte(`{"bearerToken":"` + token + `"`)),
		want: []string{`key "config"`, "not valid JSON"},
	}, {
		name: "config JSON with a bare word",
		data: data([]byte(`{"bearerToken": ` + token + `}`)),
		want: []string{`key "config"`, "not valid JSON"},
	}, {
		name: "config field of the wrong type",
		data: data([]byte(`{"bearerToken": 424242, "password": "` + password + `"}`)),
		want: []string{`key "config"`, "field bearerToken must be a string"},
		deny: []string{"424242"},
	}, {
		name: "config not an object",
		data: data([]byte(`["` + token + `"]`)),
		want: []string{`key "config"`, "must be a JSON object"},
	}, {
		name: "caData not base64",
		data: data([]byte(`{"bearerToken":"` + token + `","tlsClientConfig":{"caData":"-----BEGIN ` + password + `"}}`)),
		want: []string{`key "config"`, "not valid base64"},
	}, {
		name: "keyData not PEM",
		data: data([]byte(`{"tlsClientConfig":{"certData":"` + b64(testPair().cert) + `","keyData":"` + b64([]byte(password)) + `"}}`)),
		want: []string{`key "config"`, "tlsClientConfig.keyData is not base64-encoded PEM"},
	}, {
		name: "certificate without key",
		data: data([]byte(`{"tlsClientConfig":{"certData":"` + b64(testPair().cert) + `"}}`)),
		want: []string{"certData and keyData must be set together"},
	}, {
		name: "insecure with CA",
		data: data([]byte(`{"tlsClientConfig":{"insecure":true,"caData":"` + b64(testPair().cert) + `"}}`)),
		want: []string{"both insecure and caData"},
	}, {
		name: "token and basic auth",
		data: data(mustJSON(t, map[string]any{"bearerToken": token, "username": "admin", "password": password})),
		want: []string{"bearerToken and username/password are both set"},
	}, {
		name: "proxy with unsupported scheme",
		data: data(mustJSON(t, map[string]any{"proxyUrl": "ftp://user:" + password + "@proxy"})),
		want: []string{"proxyUrl must be"},
	}, {
		name: "clusterResources not a boolean",
		data: data(nil, "clusterResources", "yes"),
		want: []string{`key "clusterResources"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromSecret("cluster-prod", nil, nil, tt.data, tt.opts)
			if err == nil {
				t.Fatal("FromSecret succeeded, want an error")
			}
			msg := err.Error()
			for _, s := range append(tt.want, `cluster Secret "cluster-prod"`) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
			for _, s := range append(tt.deny, token, password, envValue, "s3cr3t") {
				if strings.Contains(msg, s) {
					t.Errorf("error %q leaks %q", msg, s)
				}
			}
		})
	}
}

func TestFromSecretFields(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want Cluster
	}{{
		name: "all keys",
		data: data([]byte(`{"bearerToken":"`+token+`"}`),
			"namespaces", " team-a, team-b ,,team-c ", "clusterResources", "true", "project", "payments"),
		want: Cluster{
			Name: "prod", Server: server, Namespaces: []string{"team-a", "team-b", "team-c"},
			ClusterResources: true, Project: "payments", Config: Config{BearerToken: token}, SecretName: "s",
		},
	}, {
		name: "in-cluster without a name",
		data: map[string][]byte{"server": []byte(InClusterServer), "config": []byte(`{"tlsClientConfig":{"insecure":false}}`)},
		want: Cluster{Name: InClusterName, Server: InClusterServer, SecretName: "s"},
	}, {
		name: "clusterResources false",
		data: data(nil, "clusterResources", "false", "namespaces", ""),
		want: Cluster{Name: "prod", Server: server, SecretName: "s"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromSecret("s", nil, nil, tt.data, Options{})
			if err != nil {
				t.Fatalf("FromSecret: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestFromSecretMetadata(t *testing.T) {
	const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
	tests := []struct {
		name                   string
		labels, annotations    map[string]string
		wantLabels, wantAnnots map[string]string
	}{{
		name:        "user metadata kept",
		labels:      map[string]string{SecretTypeLabel: "cluster", "env": "prod", "region": "eu"},
		annotations: map[string]string{lastApplied: `{"data":{"config":"x"}}`, "team": "payments"},
		wantLabels:  map[string]string{"env": "prod", "region": "eu"},
		wantAnnots:  map[string]string{"team": "payments"},
	}, {
		name:        "only the reserved keys",
		labels:      map[string]string{SecretTypeLabel: "cluster"},
		annotations: map[string]string{lastApplied: "{}"},
	}, {
		name: "none",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromSecret("s", tt.labels, tt.annotations, data(nil), Options{})
			if err != nil {
				t.Fatalf("FromSecret: %v", err)
			}
			if !reflect.DeepEqual(got.Labels, tt.wantLabels) || !reflect.DeepEqual(got.Annotations, tt.wantAnnots) {
				t.Errorf("labels %v annotations %v, want %v %v", got.Labels, got.Annotations, tt.wantLabels, tt.wantAnnots)
			}
			if tt.labels[SecretTypeLabel] == "" && len(tt.labels) > 0 {
				t.Error("input labels were modified")
			}
		})
	}
}

func TestToSecretDataRoundTrip(t *testing.T) {
	pair := testPair()
	tests := []struct {
		name string
		in   Cluster
		want Cluster // FromSecret's result; in plus SecretName when zero
	}{{
		name: "bearer token with CA and labels",
		in: Cluster{Name: "prod", Server: server, Labels: map[string]string{"env": "prod"}, Config: Config{
			BearerToken: token, TLSClientConfig: TLSClientConfig{CAData: pair.cert, ServerName: "api"}}},
	}, {
		name: "scoped with basic auth and client certificate",
		in: Cluster{Name: "staging", Server: "https://10.0.0.1", Namespaces: []string{"a", "b"}, ClusterResources: true,
			Project: "payments", Config: Config{Username: "admin", Password: password, DisableCompression: true,
				ProxyURL: "socks5://proxy:1080", TLSClientConfig: TLSClientConfig{CertData: pair.cert, KeyData: pair.key}}},
	}, {
		name: "exec",
		in:   Cluster{Name: "eks", Server: server, Config: Config{ExecProviderConfig: &ExecProviderConfig{Command: "aws", Args: []string{"eks", "get-token"}, Env: map[string]string{"K": "v"}, APIVersion: "client.authentication.k8s.io/v1"}}},
	}, {
		name: "unnamed gets the server's name, trailing slash dropped",
		in:   Cluster{Server: server + "/", Config: Config{TLSClientConfig: TLSClientConfig{Insecure: true}}},
		want: Cluster{Name: server, Server: server, Config: Config{TLSClientConfig: TLSClientConfig{Insecure: true}}},
	}, {
		name: "unnamed in-cluster",
		in:   Cluster{Server: InClusterServer},
		want: Cluster{Name: InClusterName, Server: InClusterServer},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, labels, err := ToSecretData(tt.in)
			if err != nil {
				t.Fatalf("ToSecretData: %v", err)
			}
			if labels[SecretTypeLabel] != "cluster" {
				t.Errorf("labels %v lack the secret-type label", labels)
			}
			got, err := FromSecret("rt", labels, nil, d, Options{AllowExec: true})
			if err != nil {
				t.Fatalf("FromSecret: %v", err)
			}
			want := tt.want
			if want.Server == "" {
				want = tt.in
			}
			want.SecretName = "rt"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip\ngot  %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestToSecretDataErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Cluster
		want string
	}{
		{"no server", Cluster{Name: "x"}, `key "server": is missing`},
		{"aws", Cluster{Server: server, Config: Config{AWSAuthConfig: &AWSAuthConfig{ClusterName: "x"}}}, "awsAuthConfig is not supported"},
		{"token and basic auth", Cluster{Server: server, Config: Config{BearerToken: token, Password: password}}, "both set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ToSecretData(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), password) {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

func TestNameNormalized(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Prod_US.East", "prod-us.east"},
		{"in-cluster", "in-cluster"},
		{"https://Kubernetes.default.svc", "https---kubernetes.default.svc"},
		{"-_Edge.", "edge"},
		{"Zürich 1", "z-rich-1"},
		{"", ""},
		{strings.Repeat("a", 300), strings.Repeat("a", 253)},
	}
	for _, tt := range tests {
		if got := NameNormalized(tt.in); got != tt.want {
			t.Errorf("NameNormalized(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrintingRedactsSecrets(t *testing.T) {
	pair := testPair()
	exec := ExecProviderConfig{Command: "get-token", Args: []string{argValue}, Env: map[string]string{"T": envValue}, APIVersion: "client.authentication.k8s.io/v1"}
	cfg := Config{
		BearerToken: token, Username: "admin", Password: password, ProxyURL: "http://u:" + password + "@proxy",
		TLSClientConfig:    TLSClientConfig{CAData: pair.cert, CertData: pair.cert, KeyData: pair.key},
		ExecProviderConfig: &exec,
	}
	c := Cluster{Name: "prod", Server: server, Config: cfg}
	values := []struct {
		name string
		v    any
	}{
		{"Config", cfg}, {"*Config", &cfg}, {"Cluster", c}, {"*Cluster", &c}, {"[]Config", []Config{cfg}},
		{"TLSClientConfig", cfg.TLSClientConfig}, {"ExecProviderConfig", exec}, {"*ExecProviderConfig", &exec},
	}
	secrets := []string{token, password, envValue, argValue, fmt.Sprintf("%x", token), string(pair.key), "PRIVATE KEY"}
	for _, v := range values {
		out := fmt.Sprintf("%v %+v %#v %s %q %x %d", v.v, v.v, v.v, v.v, v.v, v.v, v.v)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s printed %q: %s", v.name, s, out)
			}
		}
	}
	if got := fmt.Sprint(c); got != "prod ("+server+")" {
		t.Errorf("Cluster prints %q", got)
	}
	if got := cfg.String(); !strings.Contains(got, "credentials=bearerToken,basicAuth,clientCert,execProvider") {
		t.Errorf("Config summary %q lacks the credential kinds", got)
	}
	var log bytes.Buffer
	slog.New(slog.NewJSONHandler(&log, nil)).Info("x", "config", cfg, "ptr", &cfg, "cluster", c)
	if !strings.Contains(log.String(), `"cluster":{"name":"prod","server":"`+server+`"}`) {
		t.Errorf("slog of a Cluster: %s", log.String())
	}
	if strings.Contains(log.String(), token) || strings.Contains(log.String(), password) {
		t.Errorf("slog leaks a secret: %s", log.String())
	}
}
