package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"time"

	"gopkg.in/gomail.v2"

	"github.com/servercheck/uptime/services/notifier/internal/email"
)

// SMTP security modes.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS (port 587, Gmail).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear; only for a local catcher.
	TLSNone = "none"
)

// SMTPConfig configures the SMTP sender.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password string
	From     string
	FromName string
	// TLSConfig overrides the TLS settings (tests); nil verifies Host.
	TLSConfig *tls.Config
}

// SMTP sends through an SMTP server. gomail composes the MIME message; the
// conversation runs on a connection whose deadline follows the context,
// because gomail's own dialer has no deadline after connecting and a stuck
// server would hold a notifier slot forever.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	now  func() time.Time
}

// NewSMTP returns an SMTP sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("smtp tls mode %q: must be %s, %s or %s", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	return &SMTP{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), now: time.Now}, nil
}

// Send delivers msg with a text and an HTML alternative.
func (s *SMTP) Send(ctx context.Context, msg email.Message) error {
	m := gomail.NewMessage(gomail.SetCharset("UTF-8"))
	m.SetAddressHeader("From", s.cfg.From, s.cfg.FromName)
	m.SetHeader("To", msg.To)
	m.SetHeader("Subject", msg.Subject)
	m.SetDateHeader("Date", s.now())
	m.SetBody("text/plain", msg.Text)
	m.AddAlternative("text/html", msg.HTML)
	// gomail formats the delivery error with %v; keep the original to
	// stay reachable for errors.Is (ErrRejected) and net.Error (timeouts).
	var deliverErr error
	err := gomail.Send(gomail.SendFunc(func(from string, to []string, body io.WriterTo) error {
		deliverErr = s.deliver(ctx, from, to, body)
		return deliverErr
	}), m)
	switch {
	case deliverErr != nil:
		return fmt.Errorf("smtp %s: %w", s.addr, deliverErr)
	case err != nil:
		// gomail refused the addresses before sending anything.
		return fmt.Errorf("%w: smtp: %w", ErrRejected, err)
	}
	return nil
}

func (s *SMTP) deliver(ctx context.Context, from string, to []string, body io.WriterTo) (err error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	// The whole conversation ends with the context: a deadline from it,
	// and an immediate one when it is cancelled.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return classify("greeting", err)
	}
	defer func() { _ = c.Close() }()
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS")
		}
		if err := c.StartTLS(s.cfg.TLSConfig); err != nil {
			return classify("starttls", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return classify("auth", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return classify("mail from", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return classify("rcpt to", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classify("data", err)
	}
	if _, err := body.WriteTo(w); err != nil {
		_ = w.Close()
		return classify("write message", err)
	}
	if err := w.Close(); err != nil {
		return classify("end of data", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at end of data; a failed QUIT does not
		// undo that, and reporting it would send the email twice.
		return nil
	}
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if s.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.cfg.TLSConfig}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return conn, nil
}

// classify marks permanent refusals of this message (5xx on the envelope
// or the data, other than authentication) as ErrRejected.
func classify(step string, err error) error {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) && tpErr.Code >= 500 && step != "auth" && step != "starttls" && step != "greeting" {
		return fmt.Errorf("%w: %s: %w", ErrRejected, step, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}
