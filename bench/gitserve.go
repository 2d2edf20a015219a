package main

import (
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
)

// serveGit serves the repositories under root over Git's smart HTTP
// protocol (git http-backend) on a loopback port: http://<addr>/<dir>.
// Flux's GitRepository accepts no file:// URL, so every engine of the
// side-by-side benchmark reads the repository this way.
func serveGit(root string) (*http.Server, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, err
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Addr: l.Addr().String(), Handler: backend}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}
