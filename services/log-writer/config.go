package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/servercheck/uptime/pkg/config"
	"github.com/servercheck/uptime/pkg/lifecycle"
	"github.com/servercheck/uptime/pkg/logging"
	"github.com/servercheck/uptime/pkg/postgres"
	"github.com/servercheck/uptime/pkg/redisconn"
)

// Config is the log-writer's configuration, read from the environment.
type Config struct {
	HTTPPort int `env:"LOG_WRITER_HTTP_PORT" default:"9104"`
	// DLQRetryBaseDelay is the wait before the first re-drive of a dead
	// letter; each next one doubles it.
	DLQRetryBaseDelay time.Duration `env:"DLQ_RETRY_BASE_DELAY_MS" default:"30000" unit:"ms"`
	// DLQMaxRetries re-drives happen before a dead letter is parked.
	DLQMaxRetries int `env:"DLQ_MAX_RETRIES" default:"5"`

	// FlushSize waiting results start a flush; it is also the largest batch.
	FlushSize int `env:"FLUSH_SIZE" default:"500"`
	// FlushInterval is the longest a result waits in the buffer.
	FlushInterval time.Duration `env:"FLUSH_INTERVAL_MS" default:"5000" unit:"ms"`
	// BufferMax results at most are buffered (the results consumer's
	// concurrency); a full buffer stops reading.
	BufferMax int `env:"BUFFER_MAX" default:"2000"`
	// FlushRetries failed attempts are retried quietly, after
	// FlushRetryBase doubling, before the database is reported down; the
	// writer then retries every FlushRetryMax at most, forever.
	FlushRetries   int           `env:"FLUSH_RETRIES" default:"3"`
	FlushRetryBase time.Duration `env:"FLUSH_RETRY_BASE_MS" default:"1000" unit:"ms"`
	FlushRetryMax  time.Duration `env:"FLUSH_RETRY_MAX_MS" default:"30000" unit:"ms"`
	// FlushWorkers flushes run at once, on disjoint monitors.
	FlushWorkers int `env:"FLUSH_WORKERS" default:"2"`
	// FlushTimeout bounds one flush transaction.
	FlushTimeout time.Duration `env:"FLUSH_TIMEOUT_MS" default:"30000" unit:"ms"`
	// ResultsDrainTimeout is how long after SIGTERM buffered results may
	// still be flushed and acked; what is left stays pending.
	ResultsDrainTimeout time.Duration `env:"RESULTS_DRAIN_TIMEOUT_MS" default:"15000" unit:"ms"`
	// ResultsMinIdle is the results group's maximum processing time:
	// entries of a dead log-writer idle longer are reclaimed.
	ResultsMinIdle time.Duration `env:"RESULTS_MIN_IDLE_MS" default:"60000" unit:"ms"`
	// StatsInterval is how often the buffer stats are published to Redis.
	StatsInterval time.Duration `env:"LOG_WRITER_STATS_INTERVAL_MS" default:"5000" unit:"ms"`

	// RawLogRetentionDays: ping_logs partitions older are dropped.
	RawLogRetentionDays int `env:"RAW_LOG_RETENTION_DAYS" default:"30"`
	// RollupRetentionDays: hourly rollups older are deleted.
	RollupRetentionDays int `env:"ROLLUP_RETENTION_DAYS" default:"400"`
	// MaintenanceInterval is the period of partition maintenance.
	MaintenanceInterval time.Duration `env:"PARTITION_MAINTENANCE_INTERVAL_MS" default:"3600000" unit:"ms"`
	// PartitionLockTimeout bounds the lock wait of partition statements.
	PartitionLockTimeout time.Duration `env:"PARTITION_LOCK_TIMEOUT_MS" default:"5000" unit:"ms"`

	Log       logging.Config
	Postgres  postgres.Config
	Redis     redisconn.Config
	Lifecycle lifecycle.Config
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	errs := []error{
		config.Port("LOG_WRITER_HTTP_PORT", c.HTTPPort),
		c.Log.Validate(),
		c.Postgres.Validate(),
		c.Redis.Validate(),
		c.Lifecycle.Validate(),
		config.Positive("DLQ_RETRY_BASE_DELAY_MS", c.DLQRetryBaseDelay),
		config.Between("DLQ_MAX_RETRIES", c.DLQMaxRetries, 0, 20),
		config.Between("BUFFER_MAX", c.BufferMax, 1, 100000),
		config.Between("FLUSH_SIZE", c.FlushSize, 1, 100000),
		config.Positive("FLUSH_INTERVAL_MS", c.FlushInterval),
		config.Between("FLUSH_RETRIES", c.FlushRetries, 1, 100),
		config.Positive("FLUSH_RETRY_BASE_MS", c.FlushRetryBase),
		config.Positive("FLUSH_RETRY_MAX_MS", c.FlushRetryMax),
		config.Positive("FLUSH_TIMEOUT_MS", c.FlushTimeout),
		config.Between("FLUSH_WORKERS", c.FlushWorkers, 1, 64),
		config.Positive("RESULTS_DRAIN_TIMEOUT_MS", c.ResultsDrainTimeout),
		config.Positive("RESULTS_MIN_IDLE_MS", c.ResultsMinIdle),
		config.Positive("LOG_WRITER_STATS_INTERVAL_MS", c.StatsInterval),
		config.Between("RAW_LOG_RETENTION_DAYS", c.RawLogRetentionDays, 1, 3650),
		config.Between("ROLLUP_RETENTION_DAYS", c.RollupRetentionDays, 1, 3650),
		config.Positive("PARTITION_MAINTENANCE_INTERVAL_MS", c.MaintenanceInterval),
		config.Positive("PARTITION_LOCK_TIMEOUT_MS", c.PartitionLockTimeout),
	}
	if c.FlushSize > c.BufferMax {
		errs = append(errs, fmt.Errorf("FLUSH_SIZE: must not exceed BUFFER_MAX (%d), got %d", c.BufferMax, c.FlushSize))
	}
	if int32(c.FlushWorkers) >= c.Postgres.MaxConns { //nolint:gosec // FLUSH_WORKERS is validated to 1..64
		errs = append(errs, fmt.Errorf("FLUSH_WORKERS: must be below DB_POOL_MAX (%d), got %d", c.Postgres.MaxConns, c.FlushWorkers))
	}
	if c.FlushRetryMax < c.FlushRetryBase {
		errs = append(errs, errors.New("FLUSH_RETRY_MAX_MS: must be at least FLUSH_RETRY_BASE_MS"))
	}
	if c.ResultsDrainTimeout >= c.Lifecycle.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("RESULTS_DRAIN_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS (%s), got %s",
			c.Lifecycle.ShutdownTimeout, c.ResultsDrainTimeout))
	}
	return errors.Join(errs...)
}
