// Command migrate applies or rolls back the Server Check database migrations.
//
//	migrate [-timeout 5m] up|down|down-all|status|version
//
// The database comes from DATABASE_URL (a PostgreSQL URL or key=value DSN).
// Objects are created in the first schema of the connection's search_path,
// which can be set in the URL, e.g. ...?search_path=myschema.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/servercheck/uptime/db"
)

const usageText = `usage: migrate [-timeout 5m] <command>

commands:
  up        apply every pending migration
  down      roll back the most recent migration
  down-all  roll back every migration
  status    list migrations and whether each is applied
  version   print the current schema version

environment:
  DATABASE_URL  PostgreSQL connection string (required)

flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the command needs, read from flags and the environment.
type config struct {
	command     string
	databaseURL string
	timeout     time.Duration
}

// loadConfig parses the arguments and reads DATABASE_URL, reporting every
// problem at once.
func loadConfig(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (config, error) {
	fset := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		_, _ = io.WriteString(stderr, usageText)
		fset.PrintDefaults()
	}
	timeout := fset.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fset.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{timeout: *timeout}
	var problems []error
	switch fset.NArg() {
	case 0:
		problems = append(problems, errors.New("missing command (up, down, down-all, status, version)"))
	case 1:
		cfg.command = fset.Arg(0)
		switch cfg.command {
		case "up", "down", "down-all", "status", "version":
		default:
			problems = append(problems, fmt.Errorf("unknown command %q (want up, down, down-all, status, version)", cfg.command))
		}
	default:
		problems = append(problems, fmt.Errorf("want exactly one command, got %d arguments", fset.NArg()))
	}
	if cfg.timeout <= 0 {
		problems = append(problems, fmt.Errorf("-timeout must be positive, got %s", cfg.timeout))
	}
	if url, ok := lookupEnv("DATABASE_URL"); !ok || url == "" {
		problems = append(problems, errors.New("DATABASE_URL is not set: export the PostgreSQL connection string, e.g. postgres://user:pass@127.0.0.1:5432/servercheck?sslmode=disable"))
	} else {
		cfg.databaseURL = url
	}
	return cfg, errors.Join(problems...)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// A usage problem is for the person at the terminal: plain text, every
		// problem on its own line, like the flag package's own messages.
		_, _ = fmt.Fprintf(stderr, "migrate: %s\nrun 'migrate -h' for usage\n",
			strings.ReplaceAll(err.Error(), "\n", "\nmigrate: "))
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "migrate")
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := execute(ctx, cfg, logger, stdout); err != nil {
		logger.Error("migrate_failed", "command", cfg.command, "err", err)
		return 1
	}
	return 0
}

func execute(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) error {
	sqlDB, err := sql.Open("pgx", cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() { _ = sqlDB.Close() }()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}

	withLogger := db.WithLogger(logger)
	switch cfg.command {
	case "up":
		return db.Up(ctx, sqlDB, withLogger)
	case "down":
		return db.DownByOne(ctx, sqlDB, withLogger)
	case "down-all":
		return db.Down(ctx, sqlDB, withLogger)
	case "status":
		states, err := db.Status(ctx, sqlDB)
		if err != nil {
			return err
		}
		return printStatus(stdout, states)
	case "version":
		v, err := db.Version(ctx, sqlDB)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, v)
		return err
	default:
		return fmt.Errorf("unknown command %q", cfg.command)
	}
}

func printStatus(w io.Writer, states []db.MigrationStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, s := range states {
		state, at := "pending", "-"
		if s.Applied {
			state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, state, at, s.Name)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print status: %w", err)
	}
	return nil
}
