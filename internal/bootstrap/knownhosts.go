package bootstrap

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// KnownHostsConfigMap is Argo CD's ConfigMap of ssh host keys, which the
// install mounts for the controller.
const KnownHostsConfigMap = "argocd-ssh-known-hosts-cm"

// KnownHosts returns the lines of the user's known_hosts ($SSH_KNOWN_HOSTS,
// else ~/.ssh/known_hosts) for the repository's ssh host: the controller
// checks the host key against them, as the user's git did. An ssh URL
// without any is an error, before anything is committed.
func (o Options) KnownHosts() ([]byte, error) {
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	addr := knownhosts.Normalize(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	file := os.Getenv("SSH_KNOWN_HOSTS")
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the ssh host keys the controller is to trust: %w", err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); matchesHost(line, addr) {
			out.WriteString(line + "\n")
		}
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("%s has no host key for %s: connect once with ssh (or add ssh-keyscan's output) so the controller can check the server", file, addr)
	}
	return out.Bytes(), nil
}

// matchesHost says whether a known_hosts line is for addr (as
// knownhosts.Normalize writes it): a plain name in its host list, or a
// hashed one (|1|salt|hash). Wildcard patterns and @revoked lines are
// not copied.
func matchesHost(line, addr string) bool {
	fields := strings.Fields(line)
	if len(fields) < 3 || strings.HasPrefix(fields[0], "#") || fields[0] == "@revoked" {
		return false
	}
	hosts := fields[0]
	if fields[0] == "@cert-authority" {
		hosts = fields[1]
	}
	for _, h := range strings.Split(hosts, ",") {
		if h == addr || hashedMatch(h, addr) {
			return true
		}
	}
	return false
}

func hashedMatch(entry, addr string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "1" {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(addr))
	return hmac.Equal(mac.Sum(nil), sum)
}

// knownHostsConfigMap is Argo CD's ssh host keys ConfigMap holding lines.
func (o Options) knownHostsConfigMap(lines []byte) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": KnownHostsConfigMap, "namespace": o.namespace()},
		"data":     map[string]any{"ssh_known_hosts": string(lines)},
	}}
}
