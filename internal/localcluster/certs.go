package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the set of keys and certificates a local control plane needs. It is
// generated for every cluster: nothing is shared between clusters, so tests
// cannot talk to each other's API servers by accident.
type pki struct {
	caCert, caKey []byte // PEM
	serving       keyPair
	admin         keyPair // system:masters
	user          keyPair // an ordinary user, bound to cluster-admin by RBAC
	controllerMgr keyPair
	scheduler     keyPair
	saKey, saPub  []byte // service account token signing key pair, PEM
}

type keyPair struct{ cert, key []byte }

// Identities of the client certificates. UserName is the non-admin identity
// handed to benchmarks and controllers under test.
const (
	AdminName = "ferry-admin"
	UserName  = "ferry-user"
)

func newPKI() (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	p := &pki{caCert: pemBlock("CERTIFICATE", caDER)}
	if p.caKey, err = pemKey(caKey); err != nil {
		return nil, err
	}
	issue := func(serial int64, subject pkix.Name, server bool) (keyPair, error) {
		return issueCert(ca, caKey, serial, subject, server)
	}
	if p.serving, err = issue(2, pkix.Name{CommonName: "kube-apiserver"}, true); err != nil {
		return nil, err
	}
	if p.admin, err = issue(3, pkix.Name{CommonName: AdminName, Organization: []string{"system:masters"}}, false); err != nil {
		return nil, err
	}
	if p.user, err = issue(4, pkix.Name{CommonName: UserName, Organization: []string{"ferry:users"}}, false); err != nil {
		return nil, err
	}
	if p.controllerMgr, err = issue(5, pkix.Name{CommonName: "system:kube-controller-manager"}, false); err != nil {
		return nil, err
	}
	if p.scheduler, err = issue(6, pkix.Name{CommonName: "system:kube-scheduler"}, false); err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service account key: %w", err)
	}
	if p.saKey, err = pemKey(saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, fmt.Errorf("marshal service account public key: %w", err)
	}
	p.saPub = pemBlock("PUBLIC KEY", pubDER)
	return p, nil
}

func issueCert(ca *x509.Certificate, caKey crypto.Signer, serial int64, subject pkix.Name, server bool) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generate key for %s: %w", subject.CommonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      subject,
		NotBefore:    ca.NotBefore,
		NotAfter:     ca.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
		// 10.0.0.1 is the first address of the service range: the in-cluster
		// "kubernetes" Service.
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return keyPair{}, fmt.Errorf("create certificate for %s: %w", subject.CommonName, err)
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: pemBlock("CERTIFICATE", der), key: keyPEM}, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pemKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// writeFiles writes the PKI under dir/pki with owner-only permissions and
// returns the directory.
func (p *pki) writeFiles(dir string) (string, error) {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", pkiDir, err)
	}
	files := map[string][]byte{
		"ca.crt": p.caCert, "ca.key": p.caKey,
		"apiserver.crt": p.serving.cert, "apiserver.key": p.serving.key,
		"sa.key": p.saKey, "sa.pub": p.saPub,
	}
	for name, data := range files {
		path := filepath.Join(pkiDir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	return pkiDir, nil
}
