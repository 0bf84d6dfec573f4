package db_test

import (
	"database/sql"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/db"
)

// schemaObjects lists what the migrations left in schema, apart from goose's
// own version table (with its sequence, row type and array type).
func schemaObjects(t *testing.T, sqlDB *sql.DB, schema string) []string {
	t.Helper()
	rows, err := sqlDB.QueryContext(t.Context(), `
		SELECT 'relation ' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname NOT LIKE 'goose\_db\_version%'
		UNION ALL
		SELECT 'function ' || p.proname
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1
		UNION ALL
		SELECT 'type ' || t.typname
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = $1 AND t.typname NOT IN ('goose_db_version', '_goose_db_version')
		ORDER BY 1`, schema)
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var objects []string
	for rows.Next() {
		var o string
		require.NoError(t, rows.Scan(&o))
		objects = append(objects, o)
	}
	require.NoError(t, rows.Err())
	return objects
}

func TestMigrationFilesAreNumberedGooseFiles(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(db.FS(), "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	latest, err := db.LatestVersion()
	require.NoError(t, err)
	assert.EqualValues(t, len(names), latest, "versions are 1..n without gaps")
	for _, name := range names {
		body, err := fs.ReadFile(db.FS(), name)
		require.NoError(t, err)
		assert.Contains(t, string(body), "-- +goose Up", name)
		assert.Contains(t, string(body), "-- +goose Down", name)
		assert.NotContains(t, string(body), "public.", "%s must not name a schema", name)
	}
}

func TestMigrationsRoundTrip(t *testing.T) {
	t.Parallel()
	schema, sqlDB := newSchema(t)
	ctx := t.Context()
	latest, err := db.LatestVersion()
	require.NoError(t, err)

	require.NoError(t, db.Up(ctx, sqlDB))
	v, err := db.Version(ctx, sqlDB)
	require.NoError(t, err)
	require.Equal(t, latest, v)

	t.Run("goose's version table lands in the test schema", func(t *testing.T) {
		var found bool
		err := sqlDB.QueryRowContext(ctx,
			`SELECT to_regclass(quote_ident($1) || '.goose_db_version') IS NOT NULL`, schema).Scan(&found)
		require.NoError(t, err)
		require.True(t, found)
	})

	t.Run("up again is a no-op", func(t *testing.T) {
		require.NoError(t, db.Up(ctx, sqlDB))
	})

	t.Run("status lists every migration as applied", func(t *testing.T) {
		states, err := db.Status(ctx, sqlDB)
		require.NoError(t, err)
		require.Len(t, states, int(latest))
		for i, s := range states {
			assert.EqualValues(t, i+1, s.Version)
			assert.True(t, s.Applied, s.Name)
			assert.False(t, s.AppliedAt.IsZero(), s.Name)
		}
	})

	t.Run("down all the way leaves nothing but goose's table", func(t *testing.T) {
		require.NoError(t, db.Down(ctx, sqlDB))
		v, err := db.Version(ctx, sqlDB)
		require.NoError(t, err)
		require.Zero(t, v)
		require.Empty(t, schemaObjects(t, sqlDB, schema))
	})

	t.Run("up after down recreates the schema", func(t *testing.T) {
		require.NoError(t, db.Up(ctx, sqlDB))
		v, err := db.Version(ctx, sqlDB)
		require.NoError(t, err)
		require.Equal(t, latest, v)
	})

	t.Run("down one by one undoes every migration in turn", func(t *testing.T) {
		for want := latest - 1; want >= 0; want-- {
			require.NoError(t, db.DownByOne(ctx, sqlDB))
			v, err := db.Version(ctx, sqlDB)
			require.NoError(t, err)
			require.Equal(t, want, v)
		}
		require.ErrorIs(t, db.DownByOne(ctx, sqlDB), db.ErrNothingToRollBack)
		require.Empty(t, schemaObjects(t, sqlDB, schema))
		require.NoError(t, db.Up(ctx, sqlDB))
	})
}

func TestUpOnTwoSchemasConcurrently(t *testing.T) {
	t.Parallel()
	schemaA, dbA := newSchema(t)
	schemaB, dbB := newSchema(t)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, sqlDB := range []*sql.DB{dbA, dbB} {
		wg.Go(func() { errs[i] = db.Up(t.Context(), sqlDB) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	objectsA := schemaObjects(t, dbA, schemaA)
	require.NotEmpty(t, objectsA)
	require.Equal(t, objectsA, schemaObjects(t, dbB, schemaB), "both schemas hold the same objects")
	require.Len(t, partitions(t, dbA, schemaA), 10)
	require.Len(t, partitions(t, dbB, schemaB), 10)
}

func TestConcurrentUpOnOneSchemaTakesTurns(t *testing.T) {
	t.Parallel()
	_, sqlDB := newSchema(t)

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = db.Up(t.Context(), sqlDB) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	latest, err := db.LatestVersion()
	require.NoError(t, err)
	v, err := db.Version(t.Context(), sqlDB)
	require.NoError(t, err)
	require.Equal(t, latest, v)
}

func TestUpWithoutExistingSchemaFails(t *testing.T) {
	t.Parallel()
	sqlDB := openDB(t, "test_schema_that_does_not_exist")
	require.ErrorIs(t, db.Up(t.Context(), sqlDB), db.ErrNoSchema)
}
