package redisconn_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/redisconn"
	"github.com/servercheck/uptime/pkg/testenv"
)

func validConfig() redisconn.Config {
	return redisconn.Config{Host: "127.0.0.1", Port: 6379, DB: 0, KeyPrefix: "uptime", PoolSize: 50}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(*redisconn.Config)
		wantErrs []string
	}{
		{name: "the defaults are valid", change: func(*redisconn.Config) {}},
		{name: "port 65535 and database 15 are valid", change: func(c *redisconn.Config) { c.Port = 65535; c.DB = 15 }},
		{name: "a prefix with dashes and dots is valid", change: func(c *redisconn.Config) { c.KeyPrefix = "uptime-staging.eu" }},
		{name: "port 0 is reported", change: func(c *redisconn.Config) { c.Port = 0 }, wantErrs: []string{"REDIS_PORT: must be 1..65535, got 0"}},
		{name: "port 65536 is reported", change: func(c *redisconn.Config) { c.Port = 65536 }, wantErrs: []string{"REDIS_PORT: must be 1..65535, got 65536"}},
		{name: "a negative database is reported", change: func(c *redisconn.Config) { c.DB = -1 }, wantErrs: []string{"REDIS_DB: must not be negative, got -1"}},
		{name: "an empty prefix is reported", change: func(c *redisconn.Config) { c.KeyPrefix = "" }, wantErrs: []string{`REDIS_KEY_PREFIX: must be non-empty without braces, colons or spaces, got ""`}},
		{name: "a prefix with an opening brace is reported", change: func(c *redisconn.Config) { c.KeyPrefix = "{uptime" }, wantErrs: []string{"REDIS_KEY_PREFIX"}},
		{name: "a prefix with a closing brace is reported", change: func(c *redisconn.Config) { c.KeyPrefix = "uptime}" }, wantErrs: []string{"REDIS_KEY_PREFIX"}},
		{name: "a prefix with a colon is reported", change: func(c *redisconn.Config) { c.KeyPrefix = "up:time" }, wantErrs: []string{"REDIS_KEY_PREFIX"}},
		{name: "a prefix with a space is reported", change: func(c *redisconn.Config) { c.KeyPrefix = "up time" }, wantErrs: []string{"REDIS_KEY_PREFIX"}},
		{name: "a pool of zero is reported", change: func(c *redisconn.Config) { c.PoolSize = 0 }, wantErrs: []string{"REDIS_POOL_SIZE: must be at least 1, got 0"}},
		{
			name: "every problem is reported together",
			change: func(c *redisconn.Config) {
				c.Port = -1
				c.DB = -2
				c.KeyPrefix = "a:b"
				c.PoolSize = -3
			},
			wantErrs: []string{"REDIS_PORT", "REDIS_DB", "REDIS_KEY_PREFIX", "REDIS_POOL_SIZE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if len(tt.wantErrs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, part := range tt.wantErrs {
				assert.Contains(t, err.Error(), part)
			}
		})
	}
}

func TestConfigAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		host string
		port int
		want string
	}{
		{name: "an IPv4 host is joined with a colon", host: "127.0.0.1", port: 6379, want: "127.0.0.1:6379"},
		{name: "a host name is joined with a colon", host: "redis.internal", port: 6380, want: "redis.internal:6380"},
		{name: "an IPv6 host is bracketed", host: "::1", port: 6379, want: "[::1]:6379"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, redisconn.Config{Host: tt.host, Port: tt.port}.Addr())
		})
	}
}

func testConfig(t *testing.T) redisconn.Config {
	t.Helper()
	host, port, err := net.SplitHostPort(testenv.RedisAddr(t))
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	cfg := validConfig()
	cfg.Host = host
	cfg.Port = p
	cfg.PoolSize = 5
	return cfg
}

func TestOpenConnectsToARealServer(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)

	rdb, err := redisconn.Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })

	assert.Equal(t, cfg.Addr(), rdb.Options().Addr)
	assert.Equal(t, cfg.PoolSize, rdb.Options().PoolSize)
	require.NoError(t, redisconn.Check(rdb)(t.Context()))

	key := "{" + testenv.Name("t") + "}:probe"
	t.Cleanup(func() { _ = testenv.NewRedisClient(t).Del(t.Context(), key).Err() })
	require.NoError(t, rdb.Set(t.Context(), key, "v", time.Minute).Err())
	got, err := rdb.Get(t.Context(), key).Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)
}

func TestOpenSelectsTheConfiguredDatabase(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.DB = 1

	rdb, err := redisconn.Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })

	info, err := rdb.ClientInfo(t.Context()).Result()
	require.NoError(t, err)
	assert.Equal(t, 1, info.DB)
}

func TestOpenFailsOnAClosedPortNamingTheAddress(t *testing.T) {
	t.Parallel()
	cfg := validConfig()
	cfg.Port = testenv.FreePort(t)
	start := time.Now()

	rdb, err := redisconn.Open(t.Context(), cfg)

	require.Error(t, err)
	assert.Nil(t, rdb)
	assert.Contains(t, err.Error(), cfg.Addr())
	assert.Contains(t, err.Error(), "redis")
	assert.Less(t, time.Since(start), 6*time.Second, "Open gives up within its 5s ping timeout")
}

func TestCheckFailsOnAClosedClient(t *testing.T) {
	t.Parallel()
	rdb, err := redisconn.Open(t.Context(), testConfig(t))
	require.NoError(t, err)
	require.NoError(t, rdb.Close())

	err = redisconn.Check(rdb)(t.Context())

	require.Error(t, err)
	assert.Contains(t, err.Error(), "ping redis")
}
