package deployments_test

import (
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadCompose loads the root docker-compose.yml with the compose-spec
// loader (the one docker compose uses), with the "tools" profile active so
// that on-demand services are checked too. The host's environment is left
// out (the file must not depend on it); env, KEY=VALUE pairs, stands for it
// in interpolation.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithName("servercheck"),
		cli.WithProfiles([]string{"tools"}),
		cli.WithEnv(env),
	)
	require.NoError(t, err)
	project, err := opts.LoadProject(t.Context())
	require.NoError(t, err, "docker-compose.yml does not load")
	return project
}

func composeService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	require.NoError(t, err, "service %s", name)
	return s
}

// environment flattens a service's environment (unset values are empty).
func environment(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = ""
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// buildTarget is the TARGET build argument: the directory of the service's
// main package.
func buildTarget(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	require.NotNil(t, s.Build, "%s is not built from this repository", s.Name)
	target := s.Build.Args["TARGET"]
	require.NotNil(t, target, "%s has no TARGET build argument", s.Name)
	assert.Equal(t, "deployments/docker/Dockerfile", s.Build.Dockerfile)
	return *target
}

// builtServices are the compose services built from this repository, with
// the main package each runs.
var builtServices = map[string]string{
	"migrate":    "db/cmd/migrate",
	"api":        "services/api",
	"scheduler":  "services/scheduler",
	"checker":    "services/checker",
	"log-writer": "services/log-writer",
	"notifier":   "services/notifier",
	"devtoken":   "services/api/cmd/devtoken",
}

// longRunning are the five services of the system.
var longRunning = []string{"api", "scheduler", "checker", "log-writer", "notifier"}

func TestComposeDefinesTheWholeSystem(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	names := append(p.ServiceNames(), p.DisabledServiceNames()...)
	for _, name := range []string{"postgres", "redis", "mailpit", "migrate", "api", "scheduler", "checker", "log-writer", "notifier", "devtoken"} {
		t.Run(name+" is a service", func(t *testing.T) {
			t.Parallel()
			assert.Contains(t, names, name)
		})
	}
	for name, target := range builtServices {
		t.Run(name+" is built from "+target, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, target, buildTarget(t, composeService(t, p, name)))
		})
	}
}

func TestComposeStartsServicesAfterTheirDependencies(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	const (
		healthy  = types.ServiceConditionHealthy
		migrated = types.ServiceConditionCompletedSuccessfully
	)
	tests := []struct {
		service, dependency, condition string
	}{
		{"migrate", "postgres", healthy},
		{"api", "migrate", migrated},
		{"api", "postgres", healthy},
		{"api", "redis", healthy},
		{"scheduler", "migrate", migrated},
		{"scheduler", "postgres", healthy},
		{"scheduler", "redis", healthy},
		{"checker", "redis", healthy},
		{"log-writer", "migrate", migrated},
		{"log-writer", "postgres", healthy},
		{"log-writer", "redis", healthy},
		{"notifier", "migrate", migrated},
		{"notifier", "postgres", healthy},
		{"notifier", "redis", healthy},
		{"notifier", "mailpit", healthy},
		{"devtoken", "migrate", migrated},
	}
	for _, tt := range tests {
		t.Run(tt.service+" waits until "+tt.dependency+" is "+strings.TrimPrefix(tt.condition, "service_"), func(t *testing.T) {
			t.Parallel()
			dep, ok := composeService(t, p, tt.service).DependsOn[tt.dependency]
			require.True(t, ok, "%s does not depend on %s", tt.service, tt.dependency)
			assert.Equal(t, tt.condition, dep.Condition)
		})
	}
	t.Run("the checker does not wait for PostgreSQL, which it never uses", func(t *testing.T) {
		t.Parallel()
		assert.NotContains(t, composeService(t, p, "checker").DependsOn, "postgres")
	})
}

func TestComposeHealthChecksGateTheDependencies(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	tests := []struct {
		service string
		command []string
	}{
		{"postgres", []string{"CMD-SHELL", "pg_isready -U servercheck -d servercheck"}},
		{"redis", []string{"CMD", "redis-cli", "ping"}},
		{"mailpit", []string{"CMD", "/mailpit", "readyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.service+" reports its health with "+strings.Join(tt.command[1:], " "), func(t *testing.T) {
			t.Parallel()
			hc := composeService(t, p, tt.service).HealthCheck
			require.NotNil(t, hc)
			assert.False(t, hc.Disable)
			assert.Equal(t, tt.command, []string(hc.Test))
			require.NotNil(t, hc.Interval)
			assert.LessOrEqual(t, time.Duration(*hc.Interval), 10*time.Second)
		})
	}
	t.Run("every service that something waits on as healthy has a health check", func(t *testing.T) {
		t.Parallel()
		for _, s := range p.Services {
			for dep, cond := range s.DependsOn {
				if cond.Condition == types.ServiceConditionHealthy {
					assert.NotNil(t, composeService(t, p, dep).HealthCheck, "%s waits for %s to be healthy", s.Name, dep)
				}
			}
		}
	})
}

func TestComposeRunsMigrationsOnce(t *testing.T) {
	t.Parallel()
	m := composeService(t, loadCompose(t), "migrate")
	t.Run("migrate is never restarted", func(t *testing.T) {
		assert.Equal(t, types.RestartPolicyNo, m.Restart)
	})
	t.Run("migrate applies every pending migration", func(t *testing.T) {
		assert.Equal(t, []string{"up"}, []string(m.Command))
	})
}

func TestComposeRunsTwoCheckers(t *testing.T) {
	t.Parallel()
	checker := composeService(t, loadCompose(t), "checker")
	t.Run("the checker has two replicas", func(t *testing.T) {
		assert.Equal(t, 2, checker.GetScale())
	})
	t.Run("no checker port is published on the host, where replicas would clash", func(t *testing.T) {
		assert.Empty(t, checker.Ports)
	})
}

func TestComposeSetsOnlyVariablesTheServicesRead(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for name, target := range builtServices {
		t.Run(name+" reads every variable set for it", func(t *testing.T) {
			t.Parallel()
			s := composeService(t, p, name)
			read := readConfig(t, buildTarget(t, s)).Vars
			require.Equal(t, target, buildTarget(t, s))
			for v := range environment(s) {
				assert.Contains(t, read, v, "%s sets %s, which %s never reads", name, v, target)
			}
		})
	}
	for _, name := range longRunning {
		t.Run(name+" gets its required settings", func(t *testing.T) {
			t.Parallel()
			env := environment(composeService(t, p, name))
			for _, v := range []string{"REDIS_HOST", "SHUTDOWN_TIMEOUT_MS"} {
				assert.NotEmpty(t, env[v], "%s has no %s", name, v)
			}
			if _, reads := readConfig(t, builtServices[name]).Vars["DATABASE_URL"]; reads {
				assert.Contains(t, env["DATABASE_URL"], "@postgres:5432/", "%s has no DATABASE_URL to the postgres service", name)
			}
		})
	}
}

func TestComposePortsMatchThePortVariables(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, name := range longRunning {
		t.Run(name+" listens on the port it exposes", func(t *testing.T) {
			t.Parallel()
			s := composeService(t, p, name)
			cfg := readConfig(t, builtServices[name])
			env := environment(s)
			require.Contains(t, env, cfg.PortVar, "%s does not set its port variable explicitly", name)
			port := cfg.port(t, env)
			var exposed []int
			for _, pc := range s.Ports {
				exposed = append(exposed, int(pc.Target))
			}
			for _, e := range s.Expose {
				n, err := strconv.Atoi(e)
				require.NoError(t, err)
				exposed = append(exposed, n)
			}
			assert.Equal(t, []int{port}, exposed, "%s=%d", cfg.PortVar, port)
		})
	}
	t.Run("the api is published on port 4000", func(t *testing.T) {
		t.Parallel()
		ports := composeService(t, p, "api").Ports
		require.Len(t, ports, 1)
		assert.Equal(t, "4000", ports[0].Published)
		assert.Equal(t, uint32(4000), ports[0].Target)
	})
	t.Run("the health and metrics ports are published on loopback only", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"scheduler", "log-writer", "notifier", "mailpit"} {
			for _, pc := range composeService(t, p, name).Ports {
				assert.Equal(t, "127.0.0.1", pc.HostIP, "%s publishes %d", name, pc.Target)
			}
		}
	})
}

func TestComposeSendsEmailToMailpit(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	env := environment(composeService(t, p, "notifier"))
	mailpit := composeService(t, p, "mailpit")
	var mailpitPorts []string
	for _, pc := range mailpit.Ports {
		mailpitPorts = append(mailpitPorts, strconv.Itoa(int(pc.Target)))
	}
	tests := []struct {
		name, variable, want string
	}{
		{"the notifier sends through SMTP first", "SEND_EMAIL_NODEMAILER_SES", "nodemailer"},
		{"the SMTP host is the mailpit service", "SMTP_HOST", mailpit.Name},
		{"the SMTP port is mailpit's SMTP port", "SMTP_PORT", "1025"},
		{"mailpit speaks plain SMTP", "SMTP_TLS", "none"},
		{"mail comes from a local address", "AWS_SES_FROM_EMAIL", "alerts@servercheck.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, env[tt.variable], tt.variable)
		})
	}
	t.Run("mailpit serves SMTP on 1025 and its web UI on 8025", func(t *testing.T) {
		t.Parallel()
		assert.ElementsMatch(t, []string{"1025", "8025"}, mailpitPorts)
		assert.True(t, strings.HasPrefix(mailpit.Image, "axllent/mailpit:"), mailpit.Image)
	})
}

func TestComposeAPITrustsTheDevelopmentIssuer(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	api := composeService(t, p, "api")
	devtoken := composeService(t, p, "devtoken")
	apiEnv, tokenEnv := environment(api), environment(devtoken)
	t.Run("the api has an issuer and a client id", func(t *testing.T) {
		assert.NotEmpty(t, apiEnv["COGNITO_ISSUER"])
		assert.NotEmpty(t, apiEnv["COGNITO_CLIENT_ID"])
		assert.Equal(t, "true", apiEnv["DEV_ISSUER_ENABLED"])
		assert.NotEqual(t, "production", apiEnv["NODE_ENV"], "the development issuer is refused in production")
	})
	t.Run("devtoken signs for the issuer and client id the api verifies", func(t *testing.T) {
		for _, v := range []string{"COGNITO_ISSUER", "COGNITO_CLIENT_ID", "DEV_ISSUER_KEY_FILE", "DATABASE_URL"} {
			assert.Equal(t, apiEnv[v], tokenEnv[v], v)
		}
	})
	t.Run("the issuer key lives on a volume both share, outside the read-only root", func(t *testing.T) {
		keyDir := path.Dir(apiEnv["DEV_ISSUER_KEY_FILE"])
		volumeAt := func(s types.ServiceConfig) string {
			for _, v := range s.Volumes {
				if v.Target == keyDir {
					return v.Source
				}
			}
			return ""
		}
		require.NotEmpty(t, volumeAt(api), "no volume at %s in the api", keyDir)
		assert.Equal(t, volumeAt(api), volumeAt(devtoken))
		assert.Contains(t, p.Volumes, volumeAt(api))
	})
}

func TestComposeRunsServicesHardenedAndDrained(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, name := range append([]string{"migrate", "devtoken"}, longRunning...) {
		t.Run(name+" runs with a read-only root and no capabilities", func(t *testing.T) {
			t.Parallel()
			s := composeService(t, p, name)
			assert.True(t, s.ReadOnly)
			assert.Equal(t, []string{"ALL"}, s.CapDrop)
			assert.Contains(t, s.SecurityOpt, "no-new-privileges:true")
		})
	}
	for _, name := range longRunning {
		t.Run(name+" is restarted and given longer than its shutdown timeout to stop", func(t *testing.T) {
			t.Parallel()
			s := composeService(t, p, name)
			assert.Equal(t, types.RestartPolicyUnlessStopped, s.Restart)
			timeout, err := strconv.Atoi(environment(s)["SHUTDOWN_TIMEOUT_MS"])
			require.NoError(t, err)
			require.NotNil(t, s.StopGracePeriod)
			assert.Greater(t, time.Duration(*s.StopGracePeriod), time.Duration(timeout)*time.Millisecond)
		})
	}
	t.Run("redis keeps an append-only file, so pending work survives a restart", func(t *testing.T) {
		t.Parallel()
		cmd := []string(composeService(t, p, "redis").Command)
		i := slices.Index(cmd, "--appendonly")
		require.GreaterOrEqual(t, i, 0, "redis runs without --appendonly")
		require.Less(t, i+1, len(cmd))
		assert.Equal(t, "yes", cmd[i+1])
	})
}

func TestComposeSharesTheMonitorSecretsKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"without a key in the environment both use the development key", nil, ""},
		{"a key from the environment reaches both", []string{"MONITOR_SECRETS_KEY=c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1mb3ItdGVzdHM="}, "c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1mb3ItdGVzdHM="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadCompose(t, tt.env...)
			for _, name := range []string{"api", "checker"} {
				env := environment(composeService(t, p, name))
				require.Contains(t, env, "MONITOR_SECRETS_KEY", "%s does not pass MONITOR_SECRETS_KEY", name)
				assert.Equal(t, tt.want, env["MONITOR_SECRETS_KEY"], name)
			}
		})
	}
}
