package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/services/api/internal/auth"
)

// connectTimeout bounds the database round trip of one invocation.
const connectTimeout = 10 * time.Second

// devConfig is what devtoken reads from the environment; the api reads the
// same variables, so the token it prints is one the api accepts.
type devConfig struct {
	Issuer      string `env:"COGNITO_ISSUER" required:"true"`
	ClientID    string `env:"COGNITO_CLIENT_ID" required:"true"`
	KeyFile     string `env:"DEV_ISSUER_KEY_FILE" default:".local/dev/dev-issuer.pem"`
	DatabaseURL string `env:"DATABASE_URL" required:"true"`
}

type flags struct {
	email    string
	role     string
	tokenUse string
	ttl      time.Duration
}

// parseFlags writes the usage to stdout for --help only: on an error
// stdout stays empty, so a caller capturing the token never captures text.
func parseFlags(args []string, stdout io.Writer) (flags, error) {
	var f flags
	var usage bytes.Buffer
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	fs.SetOutput(&usage)
	fs.StringVar(&f.email, "email", "", "email of the user (required)")
	fs.StringVar(&f.role, "role", "USER", "role stored for the user: ADMIN, USER or GUEST")
	fs.StringVar(&f.tokenUse, "token-use", auth.TokenUseID, "token kind: id (what the web app sends) or access")
	fs.DurationVar(&f.ttl, "ttl", 12*time.Hour, "lifetime of the token")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = usage.WriteTo(stdout)
			return flags{}, err
		}
		return flags{}, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return flags{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	f.email = strings.ToLower(strings.TrimSpace(f.email))
	f.role = strings.ToUpper(strings.TrimSpace(f.role))
	var errs []error
	if f.email == "" {
		errs = append(errs, errors.New("--email is required"))
	}
	switch f.role {
	case "ADMIN", "USER", "GUEST":
	default:
		errs = append(errs, fmt.Errorf("--role must be ADMIN, USER or GUEST, got %q", f.role))
	}
	if f.tokenUse != auth.TokenUseID && f.tokenUse != auth.TokenUseAccess {
		errs = append(errs, fmt.Errorf("--token-use must be id or access, got %q", f.tokenUse))
	}
	if f.ttl <= 0 {
		errs = append(errs, errors.New("--ttl must be positive"))
	}
	return f, errors.Join(errs...)
}

// run registers the user and writes only the token (and a newline) to
// stdout, so that `TOKEN=$(devtoken --email ...)` works.
func run(ctx context.Context, args []string, stdout io.Writer, lookup func(string) (string, bool)) error {
	f, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var cfg devConfig
	if err := config.Load(&cfg, config.Options{Lookup: lookup}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	key, err := auth.LoadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return err
	}

	// The sub is minted and stored before signing, so that a bad email or
	// issuer fails here and not after the database was changed.
	opts := auth.MintOptions{
		Issuer:   cfg.Issuer,
		ClientID: cfg.ClientID,
		Email:    f.email,
		Subject:  uuid.NewString(),
		TokenUse: f.tokenUse,
		TTL:      f.ttl,
	}
	if _, err := auth.Mint(key, opts); err != nil {
		return err
	}
	sub, err := upsertUser(ctx, cfg.DatabaseURL, f.email, f.role, opts.Subject)
	if err != nil {
		return err
	}
	opts.Subject = sub
	token, err := auth.Mint(key, opts)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// upsertUserSQL registers email with role and gives the user a cognito_sub
// when it has none yet (access tokens carry no email, so the api resolves
// them by sub). An existing sub, for example one from a real Cognito
// sign-in, is kept and used.
const upsertUserSQL = `
INSERT INTO users (email, role, cognito_sub) VALUES (lower($1), $2, $3)
ON CONFLICT (email) DO UPDATE
    SET role = EXCLUDED.role,
        cognito_sub = COALESCE(users.cognito_sub, EXCLUDED.cognito_sub)
RETURNING cognito_sub`

func upsertUser(ctx context.Context, databaseURL, email, role, newSub string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	pc, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// Not wrapped: a parse error may echo the URL and its password.
		return "", errors.New("DATABASE_URL is not a valid PostgreSQL URL or DSN")
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return "", fmt.Errorf("connect to postgres at %s: %w", pc.Host, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var sub string
	if err := conn.QueryRow(ctx, upsertUserSQL, email, role, newSub).Scan(&sub); err != nil {
		return "", fmt.Errorf("register user %s: %w", email, err)
	}
	return sub, nil
}
