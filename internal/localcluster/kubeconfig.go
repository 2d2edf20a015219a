package localcluster

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Context names in the kubeconfig a cluster writes. The admin context is the
// current one, as with any freshly created cluster; the user context is the
// non-admin identity for benchmarks and controllers.
const (
	AdminContext = "ferry-local"
	UserContext  = "ferry-local-user"
)

type credential struct {
	context, user string
	pair          keyPair
}

// writeKubeconfig writes a kubeconfig for server with one context per
// credential; the first is current.
func writeKubeconfig(path, server string, caCert []byte, creds ...credential) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caCert}
	for _, c := range creds {
		cfg.AuthInfos[c.user] = &clientcmdapi.AuthInfo{ClientCertificateData: c.pair.cert, ClientKeyData: c.pair.key}
		cfg.Contexts[c.context] = &clientcmdapi.Context{Cluster: "local", AuthInfo: c.user}
	}
	cfg.CurrentContext = creds[0].context
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func restConfig(server string, caCert []byte, pair keyPair) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: caCert, CertData: pair.cert, KeyData: pair.key,
		},
		// Tests and benchmarks measure the server, not client-side throttling.
		QPS: -1,
	}
}
