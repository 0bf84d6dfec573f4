// Package db holds the numbered SQL migrations of the Server Check PostgreSQL
// schema and applies them with goose.
//
// Migrations never name a schema: they create their objects in the first
// schema of the connection's search_path, and so does goose's version table
// (goose_db_version). Production migrates public; tests migrate one schema
// each by connecting with search_path set to it.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrNoSchema is returned when no schema of the connection's search_path
// exists, so there is nowhere to migrate into.
var ErrNoSchema = errors.New("no schema of the search_path exists")

// ErrNothingToRollBack is returned by DownByOne when no migration is applied.
var ErrNothingToRollBack = errors.New("no applied migration to roll back")

// lockWaitSeconds bounds how long a migration waits for another migrator of
// the same schema to finish, polling once a second.
const lockWaitSeconds = 300

// FS returns the migration files, named NNNNN_description.sql at its root.
func FS() fs.FS {
	// fs.Sub fails only for an invalid path, and "migrations" is valid.
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Option configures Up, Down, DownByOne, Status and Version.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger makes the migration functions log each migration they apply or
// roll back. Without it they log nothing.
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) {
		if logger != nil {
			o.logger = logger
		}
	}
}

// MigrationStatus is the state of one migration file in a database.
type MigrationStatus struct {
	// Version is the number the file name starts with.
	Version int64
	// Name is the file name, e.g. "00001_init.sql".
	Name string
	// Applied tells whether the migration is applied.
	Applied bool
	// AppliedAt is when it was applied; zero when it is pending.
	AppliedAt time.Time
}

// Up applies every pending migration to the schema the connection's
// search_path selects. Migrators of the same schema are serialised by a
// session advisory lock; different schemas migrate in parallel.
func Up(ctx context.Context, sqlDB *sql.DB, opts ...Option) error {
	p, o, err := newProvider(ctx, sqlDB, opts, true)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	results, err := p.Up(ctx)
	logResults(ctx, o.logger, results, err)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	if len(results) == 0 {
		o.logger.InfoContext(ctx, "schema_up_to_date")
	}
	return nil
}

// Down rolls back every applied migration, newest first, leaving only goose's
// version table in the schema.
func Down(ctx context.Context, sqlDB *sql.DB, opts ...Option) error {
	p, o, err := newProvider(ctx, sqlDB, opts, true)
	if err != nil {
		return fmt.Errorf("roll back all migrations: %w", err)
	}
	results, err := p.DownTo(ctx, 0)
	logResults(ctx, o.logger, results, err)
	if err != nil {
		return fmt.Errorf("roll back all migrations: %w", err)
	}
	return nil
}

// DownByOne rolls back the most recently applied migration. It returns
// ErrNothingToRollBack when none is applied.
func DownByOne(ctx context.Context, sqlDB *sql.DB, opts ...Option) error {
	p, o, err := newProvider(ctx, sqlDB, opts, true)
	if err != nil {
		return fmt.Errorf("roll back one migration: %w", err)
	}
	result, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return fmt.Errorf("roll back one migration: %w", ErrNothingToRollBack)
	}
	if result != nil {
		logResults(ctx, o.logger, []*goose.MigrationResult{result}, err)
	}
	if err != nil {
		return fmt.Errorf("roll back one migration: %w", err)
	}
	return nil
}

// Status reports every known migration and whether it is applied, in version
// order.
func Status(ctx context.Context, sqlDB *sql.DB, opts ...Option) ([]MigrationStatus, error) {
	p, _, err := newProvider(ctx, sqlDB, opts, false)
	if err != nil {
		return nil, fmt.Errorf("read migration status: %w", err)
	}
	states, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("read migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(states))
	for _, s := range states {
		out = append(out, MigrationStatus{
			Version:   s.Source.Version,
			Name:      path.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Version returns the highest applied migration version, 0 when none is.
func Version(ctx context.Context, sqlDB *sql.DB, opts ...Option) (int64, error) {
	p, _, err := newProvider(ctx, sqlDB, opts, false)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// LatestVersion returns the version of the newest migration file, the version
// a database has after Up.
func LatestVersion() (int64, error) {
	names, err := fs.Glob(FS(), "*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migration files: %w", err)
	}
	var latest int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return 0, fmt.Errorf("parse version of migration %s: %w", name, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// newProvider builds a goose provider for the schema the connection's
// search_path selects. With locked, the provider holds a session advisory
// lock while it changes the schema; its id is derived from the schema, so two
// migrators of one schema take turns while migrations of different schemas
// (the tests, one schema each) do not wait for each other. Status and Version
// only read, and do not wait for a running migration.
func newProvider(ctx context.Context, sqlDB *sql.DB, opts []Option, locked bool) (*goose.Provider, options, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if sqlDB == nil {
		return nil, o, errors.New("nil *sql.DB")
	}
	var schema sql.NullString
	if err := sqlDB.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, o, fmt.Errorf("read current schema: %w", err)
	}
	if !schema.Valid {
		return nil, o, ErrNoSchema
	}
	gooseOpts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if locked {
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(schemaLockID(schema.String)),
			lock.WithLockTimeout(1, lockWaitSeconds),
		)
		if err != nil {
			return nil, o, fmt.Errorf("create migration lock: %w", err)
		}
		gooseOpts = append(gooseOpts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, FS(), gooseOpts...)
	if err != nil {
		return nil, o, fmt.Errorf("create goose provider: %w", err)
	}
	return p, o, nil
}

// schemaLockID maps a schema name to the advisory lock id of its migrations.
func schemaLockID(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("servercheck/db migrations\x00" + schema))
	return int64(h.Sum64()) //nolint:gosec // wrapping into the signed lock id space is intended
}

// logResults logs the migrations that ran. When err is a goose.PartialError
// the migrations applied before the failing one are logged too: they stay
// applied, and the operator needs to know where the run stopped.
func logResults(ctx context.Context, logger *slog.Logger, results []*goose.MigrationResult, err error) {
	if partial, ok := errors.AsType[*goose.PartialError](err); ok {
		results = append(results, partial.Applied...)
	}
	for _, r := range results {
		if r == nil || r.Source == nil {
			continue
		}
		logger.InfoContext(ctx, "migration_applied",
			"version", r.Source.Version,
			"file", path.Base(r.Source.Path),
			"direction", r.Direction,
			"duration_ms", r.Duration.Milliseconds(),
		)
	}
}
