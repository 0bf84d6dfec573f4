// Package e2e runs the real service binaries against real PostgreSQL and
// Redis and talks to them over HTTP, as a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/testenv"
)

// binDir holds the binaries built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m)) //nolint:forbidigo // TestMain reports the exit code of the run
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "servercheck-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, target := range []string{"services/api", "services/scheduler", "services/checker", "services/log-writer", "services/notifier", "services/api/cmd/devtoken"} {
		out := filepath.Join(dir, filepath.Base(target))
		cmd := exec.Command("go", "build", "-o", out, "./"+target)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", target, err, b)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

// system is one isolated installation: its own schema and key prefix.
type system struct {
	t   *testing.T
	env map[string]string
	api string
	db  *pgxpool.Pool
	// redisAddr is the Redis the system uses (host:port).
	redisAddr string
	// mail is the SMTP server the notifier delivers to.
	mail  *testenv.MailServer
	mu    sync.Mutex
	procs map[string]*exec.Cmd
	// logs maps every process started to its log file (stdout and stderr).
	logs map[string]string
}

func newSystem(t *testing.T, extra map[string]string) *system {
	t.Helper()
	env := testenv.ServiceEnv(t)
	apiPort := testenv.FreePort(t)
	env["PORT"] = strconv.Itoa(apiPort)
	env["LOG_FORMAT"] = "json"
	env["LOG_LEVEL"] = "info"
	env["DEV_ISSUER_ENABLED"] = "true"
	env["DEV_ISSUER_KEY_FILE"] = filepath.Join(t.TempDir(), "dev-issuer.pem")
	env["COGNITO_ISSUER"] = "http://127.0.0.1:" + strconv.Itoa(apiPort) + "/dev-issuer"
	env["COGNITO_CLIENT_ID"] = "servercheck-e2e"
	env["SSRF_ALLOWLIST"] = "127.0.0.0/8"
	for k, v := range extra {
		env[k] = v
	}
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := &system{t: t, env: env, api: "http://127.0.0.1:" + strconv.Itoa(apiPort), db: pool,
		redisAddr: env["REDIS_HOST"] + ":" + env["REDIS_PORT"], procs: map[string]*exec.Cmd{}, logs: map[string]string{}, mail: testenv.SMTP(t)}
	t.Cleanup(s.stopAll)
	return s
}

// start runs a binary under name with the system's env plus extra, and
// waits until its readiness endpoint answers 200.
func (s *system) start(name, binary string, port int, extra map[string]string) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, binary))
	cmd.Env = os.Environ()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(filepath.Join(s.t.TempDir(), name+".log"))
	require.NoError(s.t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(s.t, cmd.Start())
	s.mu.Lock()
	s.procs[name] = cmd
	s.logs[name] = logFile.Name()
	s.mu.Unlock()
	s.t.Cleanup(func() {
		_ = logFile.Close()
		if s.t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			s.t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(b, 3000))
		}
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health/readiness"
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, err := testenv.GetStatus(url); err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready within 30s", name)
		}
		time.Sleep(100 * time.Millisecond) //nolint:forbidigo // polling another process
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// signal sends sig to name and waits for it to exit.
func (s *system) signal(name string, sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	require.NotNil(s.t, cmd, name)
	require.NoError(s.t, cmd.Process.Signal(sig))
	_ = cmd.Wait()
}

func (s *system) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*exec.Cmd{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, cmd := range procs {
		wg.Go(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
}

// token mints a development token for email with role.
func (s *system) token(email, role string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "devtoken"), "--email", email, "--role", role)
	cmd.Env = os.Environ()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	require.NoError(s.t, err)
	return strings.TrimSpace(string(out))
}

// call makes an API request and decodes the JSON answer into out (if any).
func (s *system) call(method, path, token string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.api+"/api/v1"+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(s.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

// count runs a counting query.
func (s *system) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.db.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// waitFor polls cond every 250ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond) //nolint:forbidigo // polling other processes
	}
}
