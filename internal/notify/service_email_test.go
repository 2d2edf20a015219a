package notify

import (
	"bufio"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
)

// smtpServer is a minimal SMTP receiver on loopback (RFC 5321's commands
// net/smtp sends, AUTH PLAIN, no TLS): it records each message and
// answers RCPT TO for reject with 550, echoing what it was sent.
type smtpServer struct {
	mu     sync.Mutex
	auth   []string // decoded AUTH PLAIN credentials
	from   []string
	rcpt   []string
	data   []string
	reject string
}

func startSMTP(t *testing.T, reject string) (*smtpServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{reject: reject}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s, ln.Addr().String()
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { _, _ = conn.Write([]byte(line + "\r\n")) }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		s.mu.Lock()
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			say("250-test\r\n250 AUTH PLAIN")
		case "AUTH":
			_, enc, _ := strings.Cut(arg, " ")
			dec, _ := base64.StdEncoding.DecodeString(enc)
			s.auth = append(s.auth, string(dec))
			say("235 ok")
		case "MAIL":
			s.from = append(s.from, arg)
			say("250 ok")
		case "RCPT":
			if s.reject != "" && strings.Contains(arg, s.reject) {
				say("550 no such user; you said " + line)
			} else {
				s.rcpt = append(s.rcpt, arg)
				say("250 ok")
			}
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.data = append(s.data, b.String())
			say("250 queued")
		case "QUIT":
			say("221 bye")
			s.mu.Unlock()
			return
		default:
			say("502 unknown")
		}
		s.mu.Unlock()
	}
}

func TestSendEmail(t *testing.T) {
	srv, addr := startSMTP(t, "")
	host, port, _ := net.SplitHostPort(addr)
	c := mustParse(t, map[string]string{
		// Argo CD's documented form.
		"service.email.gmail": "username: $email-username\npassword: $email-password\nhost: " + host + "\nport: " + port + "\nfrom: $email-username",
		"template.app-sync-succeeded": `email:
  subject: Application {{.app.metadata.name}} has been successfully synced.
message: |
  {{if eq .serviceType "slack"}}:white_check_mark:{{end}} Application {{.app.metadata.name}} has been successfully synced at {{.revision}}.
`,
	}, map[string][]byte{"email-username": []byte("ferry@example.com"), "email-password": []byte("s3cret-pw")})
	if err := deliver(t, c, testEvent(TriggerSyncSucceeded), Destination{Service: "gmail", Recipient: "ops@example.com, Dev <dev@example.com>"}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.auth) != 1 || srv.auth[0] != "\x00ferry@example.com\x00s3cret-pw" {
		t.Errorf("AUTH PLAIN %q", srv.auth)
	}
	if len(srv.from) != 1 || srv.from[0] != "FROM:<ferry@example.com>" {
		t.Errorf("MAIL %q", srv.from)
	}
	if strings.Join(srv.rcpt, ",") != "TO:<ops@example.com>,TO:<dev@example.com>" {
		t.Errorf("RCPT %q", srv.rcpt)
	}
	if len(srv.data) != 1 {
		t.Fatalf("%d messages", len(srv.data))
	}
	msg := srv.data[0]
	for _, want := range []string{
		"From: ferry@example.com\r\n", "To: ops@example.com, dev@example.com\r\n",
		"Subject: Application guestbook has been successfully synced.\r\n",
		"Content-Type: text/plain; charset=UTF-8\r\n",
		"\r\n\r\n Application guestbook has been successfully synced at " + sha + ".\r\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestSendEmailRejectedKeepsSecrets(t *testing.T) {
	_, addr := startSMTP(t, "s3cret-pw")
	host, port, _ := net.SplitHostPort(addr)
	c := mustParse(t, map[string]string{
		"service.email": "username: u\npassword: $pw\nhost: " + host + "\nport: " + port + "\nfrom: ferry@example.com",
	}, map[string][]byte{"pw": []byte("s3cret-pw")})
	// A recipient that echoes the password back in the server's refusal.
	err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "email", Recipient: "s3cret-pw@example.com"})
	if err == nil || !strings.Contains(err.Error(), "notify email") || !strings.Contains(err.Error(), "550") {
		t.Fatalf("error %v, want the refusal naming the service", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	if _, err := Parse(map[string]string{"service.email": "from: a@b"}, nil); err == nil || !strings.Contains(err.Error(), "service.email: host is required") {
		t.Errorf("Parse without host: %v", err)
	}
}
