package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// emailSpec is a `service.email[.<name>]` value, with Argo CD's keys.
type emailSpec struct {
	Host               string `json:"host"`
	Port               int    `json:"port"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	Username           string `json:"username"`
	Password           string `json:"password"`
	From               string `json:"from"`
	HTML               bool   `json:"html"`
}

type emailService struct{ spec emailSpec }

func parseEmail(p *parser, key, _, value string) (service, error) {
	var s emailSpec
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.Host, &s.Username, &s.Password, &s.From); err != nil {
		return nil, err
	}
	if s.Host == "" {
		return nil, fmt.Errorf("%s: host is required", key)
	}
	if s.Port == 0 {
		s.Port = 587
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return nil, fmt.Errorf("%s: from: %w", key, err)
	}
	p.sensitive(s.Password)
	return &emailService{spec: s}, nil
}

// mailMessage is an email to send.
type mailMessage struct {
	addr     string // host:port
	host     string
	implicit bool // TLS from the first byte (port 465)
	insecure bool
	username string
	password string
	from     string
	to       []string
	data     []byte
}

// emailTemplate is a template's email section.
type emailTemplate struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

func (e *emailService) requests(n Notification) ([]outbound, error) {
	var t emailTemplate
	if _, err := n.Section("email", &t); err != nil {
		return nil, err
	}
	var to []string
	for _, r := range strings.Split(n.Destination.Recipient, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r, err)
		}
		to = append(to, a.Address)
	}
	if len(to) == 0 {
		return nil, errors.New("no recipient: subscribe as email:<address>")
	}
	body := firstNonEmpty(t.Body, n.Message)
	s := e.spec
	from, _ := mail.ParseAddress(s.From)
	return []outbound{{method: "SMTP", url: "smtp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), mail: &mailMessage{
		addr: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), host: s.Host, implicit: s.Port == 465,
		insecure: s.InsecureSkipVerify, username: s.Username, password: s.Password,
		from: from.Address, to: to, data: composeMail(s.From, to, t.Subject, body, s.HTML),
	}}}, nil
}

// composeMail is an RFC 5322 message: the subject encoded as RFC 2047
// when it is not ASCII, the body as UTF-8 text or HTML.
func composeMail(from string, to []string, subject, body string, html bool) []byte {
	var b bytes.Buffer
	kind := "text/plain"
	if html {
		kind = "text/html"
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: %s; charset=UTF-8\r\n\r\n",
		from, strings.Join(to, ", "), mime.QEncoding.Encode("UTF-8", oneLine(subject)), time.Now().Format(time.RFC1123Z), kind)
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// sendMail delivers out.mail over SMTP, dialling through the HTTP client's
// dialer (so the network policy holds), with STARTTLS when the server
// offers it; authentication (PLAIN) only over TLS or to loopback, as
// net/smtp requires.
func (s *Sender) sendMail(ctx context.Context, out outbound, redact func(string) string) error {
	m := out.mail
	conn, err := s.dial(ctx, m.addr)
	if err != nil {
		return redactedError{redact(err.Error()), err}
	}
	tlsConfig := &tls.Config{ServerName: m.host, InsecureSkipVerify: m.insecure} //nolint:gosec // the service asked for it
	if m.implicit {
		conn = tls.Client(conn, tlsConfig)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %s", redact(err.Error()))
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !m.implicit {
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp STARTTLS: %s", redact(err.Error()))
		}
	}
	if m.username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.username, m.password, m.host)); err != nil {
			return fmt.Errorf("smtp auth: %s", redact(err.Error()))
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %s", redact(err.Error()))
	}
	for _, r := range m.to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("smtp RCPT TO: %s", redact(err.Error()))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %s", redact(err.Error()))
	}
	if _, err := w.Write(m.data); err != nil {
		return fmt.Errorf("smtp DATA: %s", redact(err.Error()))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %s", redact(err.Error()))
	}
	return c.Quit()
}

// dial connects as the HTTP client's transport does (the network policy's
// dialer in the controller).
func (s *Sender) dial(ctx context.Context, addr string) (net.Conn, error) {
	base := s.Client
	if base == nil {
		base = defaultClient
	}
	tr := base.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	if t, ok := tr.(*http.Transport); ok && t.DialContext != nil {
		return t.DialContext(ctx, "tcp", addr)
	}
	// Fail closed: a dialer this code cannot see may not hold the network
	// policy.
	return nil, errors.New("email: the HTTP client's transport has no dialer to connect with")
}
