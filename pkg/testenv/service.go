package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// RunFunc is the signature of every service's run function.
type RunFunc func(ctx context.Context, stdout io.Writer, lookup func(string) (string, bool)) error

// Lookup turns a map into an environment lookup function.
func Lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// ServiceEnv returns the variables a service needs to reach a fresh
// migrated schema and an isolated Redis key prefix.
func ServiceEnv(t testing.TB) map[string]string {
	t.Helper()
	dbURL := PostgresURL(t)
	_, ks := Redis(t)
	host, port, err := net.SplitHostPort(RedisAddr(t))
	if err != nil {
		t.Fatalf("%s: %v", EnvRedisAddr, err)
	}
	return map[string]string{
		"DATABASE_URL":     dbURL,
		"REDIS_HOST":       host,
		"REDIS_PORT":       port,
		"REDIS_KEY_PREFIX": ks.Prefix(),
		"LOG_FORMAT":       "text",
		"LOG_LEVEL":        "debug",
	}
}

// StartService runs a service in-process with env, waits until
// http://127.0.0.1:port/health/readiness answers 200 and returns a function
// that stops it (as SIGTERM would) and returns run's error.
func StartService(t testing.TB, run RunFunc, env map[string]string, port int) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := testWriter{t}
	go func() { done <- run(ctx, out, Lookup(env)) }()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, err := GetStatus(base + "/health/readiness")
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("service stopped before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("service not ready within 20s (last: %d %v)", code, err)
		}
		time.Sleep(50 * time.Millisecond) //nolint:forbidigo // polling a process we do not control
	}
	stopped := false
	var runErr error
	stop = func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(30 * time.Second):
			runErr = errors.New("service did not stop within 30s")
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// GetStatus GETs u and returns the status code.
func GetStatus(u string) (int, error) {
	if _, err := url.Parse(u); err != nil {
		return 0, fmt.Errorf("parse %s: %w", u, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
