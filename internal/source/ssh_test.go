package source

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshServer is a minimal Git ssh server on loopback: it accepts one client
// key and runs git-upload-pack for "exec" requests.
type sshServer struct {
	addr     string
	hostKey  gossh.PublicKey
	listener net.Listener
	wg       sync.WaitGroup
}

func newSSHKey(t *testing.T) (gossh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

func startSSHServer(t *testing.T, clientKey gossh.PublicKey) *sshServer {
	t.Helper()
	hostSigner, _ := newSSHKey(t)
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if bytes.Equal(key.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{addr: l.Addr().String(), hostKey: hostSigner.PublicKey(), listener: l}
	s.wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(t, conn, cfg) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		s.wg.Wait()
	})
	return s
}

func (s *sshServer) serve(t *testing.T, conn net.Conn, cfg *gossh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := gossh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(gossh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range chReqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			status := runUploadPack(t, ch, req.Payload)
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
			ch.Close()
			break
		}
	}
}

// runUploadPack runs "git-upload-pack '<path>'" with the channel as stdio.
func runUploadPack(t *testing.T, ch gossh.Channel, payload []byte) uint32 {
	if len(payload) < 4 {
		return 1
	}
	command := string(payload[4:])
	name, arg, _ := strings.Cut(command, " ")
	if name != "git-upload-pack" {
		return 1
	}
	cmd := exec.Command("git", "upload-pack", strings.Trim(arg, "'"))
	cmd.Env = gitEnv(t)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
	if err := cmd.Run(); err != nil {
		return 1
	}
	return 0
}

func TestSSH(t *testing.T) {
	remote := newTestRepo(t)
	root := t.TempDir()
	bareCopy(t, remote, root, "demo.git")
	clientSigner, clientPEM := newSSHKey(t)
	srv := startSSHServer(t, clientSigner.PublicKey())
	repoURL := "ssh://git@" + srv.addr + filepath.Join(root, "demo.git")
	want := remote.sha("main")

	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, srv.hostKey) + "\n"
	if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyKnownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(emptyKnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := func(creds Credentials, known string) Options {
		return Options{
			Credentials: func(context.Context, string, string) (*Credentials, error) {
				return &creds, nil
			},
			KnownHostsFiles: []string{known},
		}
	}

	t.Run("key and known host", func(t *testing.T) {
		c, _ := newTestCache(t, opts(Credentials{SSHPrivateKey: clientPEM}, knownHosts))
		got, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err != nil || got != want {
			t.Fatalf("Resolve = %s, %v; want %s", got, err, want)
		}
		fsys, err := c.Snapshot(t.Context(), repoURL, got)
		if err != nil {
			t.Fatal(err)
		}
		assertFile(t, fsys, "README.md", "# demo\n")
	})
	t.Run("unknown host key", func(t *testing.T) {
		c, _ := newTestCache(t, opts(Credentials{SSHPrivateKey: clientPEM}, emptyKnownHosts))
		_, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err == nil {
			t.Fatal("Resolve succeeded with an unknown host key")
		}
		t.Logf("error: %v", err)
	})
	t.Run("unknown host key ignored", func(t *testing.T) {
		c, _ := newTestCache(t, opts(Credentials{SSHPrivateKey: clientPEM, InsecureIgnoreHostKey: true}, emptyKnownHosts))
		if got, err := c.Resolve(t.Context(), repoURL, "main", false); err != nil || got != want {
			t.Fatalf("Resolve = %s, %v; want %s", got, err, want)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, otherPEM := newSSHKey(t)
		c, _ := newTestCache(t, opts(Credentials{SSHPrivateKey: otherPEM}, knownHosts))
		_, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err == nil {
			t.Fatal("Resolve succeeded with a wrong key")
		}
		t.Logf("error: %v", err)
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("error shows the key: %v", err)
		}
	})
	t.Run("malformed key", func(t *testing.T) {
		bad := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END OPENSSH PRIVATE KEY-----\n")
		c, _ := newTestCache(t, opts(Credentials{SSHPrivateKey: bad}, knownHosts))
		_, err := c.Resolve(t.Context(), repoURL, "main", false)
		if err == nil {
			t.Fatal("Resolve succeeded with a malformed key")
		}
		t.Logf("error: %v", err)
		if strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("error shows the key: %v", err)
		}
	})
}
