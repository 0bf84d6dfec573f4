package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// Mail is one message a MailServer accepted, decoded far enough for
// assertions: the envelope, the headers, and the text and HTML parts.
type Mail struct {
	From    string
	To      []string
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
	Raw     []byte
}

// MailServer is a real SMTP server on loopback that keeps every message it
// accepts. It stands in for Gmail or a local catcher in tests.
type MailServer struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int

	mu      sync.Mutex
	mails   []Mail
	failure *smtp.SMTPError
	changed chan struct{}
}

// SMTP starts a MailServer for the test; it stops when the test ends.
func SMTP(t testing.TB) *MailServer {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: smtp listen: %v", err)
	}
	tcp, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("testenv: smtp listener address %v is not TCP", l.Addr())
	}
	ms := &MailServer{Host: "127.0.0.1", Port: tcp.Port, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{server: ms}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ms
}

// Addr is host:port of the server.
func (s *MailServer) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// Fail makes the server refuse every message with the given SMTP reply
// code (e.g. 451 temporary, 550 permanent) until Fail(0, "") is called.
func (s *MailServer) Fail(code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		s.failure = nil
		return
	}
	s.failure = &smtp.SMTPError{Code: code, Message: message}
}

// Mails returns a copy of what was accepted so far, oldest first.
func (s *MailServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitMails waits until at least n messages arrived and returns them all;
// the test fails after timeout.
func (s *MailServer) WaitMails(t testing.TB, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.mails), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Mails()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("testenv: %d mails arrived within %s, want %d", got, timeout, n)
			return nil
		}
	}
}

func (s *MailServer) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == nil {
		return nil
	}
	return s.failure
}

func (s *MailServer) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

type mailSession struct {
	server *MailServer
	from   string
	to     []string
}

func (ss *mailSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *mailSession) Logout() error { return nil }

func (ss *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.server.refusal(); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read data: %w", err)
	}
	if err := ss.server.refusal(); err != nil {
		return err
	}
	m, err := parseMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message: " + err.Error()}
	}
	m.From, m.To = ss.from, append([]string(nil), ss.to...)
	ss.server.add(m)
	return nil
}

// parseMail decodes the headers and the text/plain and text/html parts of
// a single-part or multipart message.
func parseMail(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, fmt.Errorf("read message: %w", err)
	}
	m := Mail{Header: msg.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, fmt.Errorf("decode subject: %w", err)
	}
	if err := m.collect(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Mail{}, err
	}
	return m, nil
}

func (m *Mail) collect(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("next part: %w", err)
			}
			// multipart.Reader decodes quoted-printable itself.
			if err := m.collect(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("read %s part: %w", media, err)
	}
	switch media {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}
