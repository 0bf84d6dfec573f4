package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/config"
)

// lookup turns a map into an environment, so that tests never touch the
// process environment unless they mean to.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// noEnvFile points Load at a file that does not exist, so that a stray .env
// in the package directory cannot leak into a test.
func noEnvFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "absent.env")
}

func writeEnvFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.env")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// kinds has one field of every supported type.
type kinds struct {
	Name     string        `env:"T_NAME"`
	Debug    bool          `env:"T_DEBUG"`
	Workers  int           `env:"T_WORKERS"`
	Pool     int32         `env:"T_POOL"`
	Max      int64         `env:"T_MAX"`
	Ratio    float64       `env:"T_RATIO"`
	Timeout  time.Duration `env:"T_TIMEOUT"`
	Wait     time.Duration `env:"T_TIMEOUT_MS" unit:"ms"`
	Interval time.Duration `env:"T_INTERVAL_S" unit:"s"`
	Hosts    []string      `env:"T_HOSTS"`
}

func TestLoadFillsEveryFieldType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want kinds
	}{
		{
			name: "unset variables leave every field at its zero value",
			env:  map[string]string{},
			want: kinds{},
		},
		{
			name: "a string is copied without its surrounding spaces",
			env:  map[string]string{"T_NAME": "  checker-1 "},
			want: kinds{Name: "checker-1"},
		},
		{
			name: "a bool accepts true",
			env:  map[string]string{"T_DEBUG": "true"},
			want: kinds{Debug: true},
		},
		{
			name: "a bool accepts 1",
			env:  map[string]string{"T_DEBUG": "1"},
			want: kinds{Debug: true},
		},
		{
			name: "a bool accepts FALSE",
			env:  map[string]string{"T_DEBUG": "FALSE"},
			want: kinds{Debug: false},
		},
		{
			name: "an int accepts a negative number",
			env:  map[string]string{"T_WORKERS": "-3"},
			want: kinds{Workers: -3},
		},
		{
			name: "an int32 accepts its largest value",
			env:  map[string]string{"T_POOL": "2147483647"},
			want: kinds{Pool: 2147483647},
		},
		{
			name: "an int64 accepts a value beyond 32 bits",
			env:  map[string]string{"T_MAX": "9000000000"},
			want: kinds{Max: 9_000_000_000},
		},
		{
			name: "a float64 accepts a decimal",
			env:  map[string]string{"T_RATIO": "0.25"},
			want: kinds{Ratio: 0.25},
		},
		{
			name: "a duration accepts Go syntax",
			env:  map[string]string{"T_TIMEOUT": "1m30s"},
			want: kinds{Timeout: 90 * time.Second},
		},
		{
			name: "a bare integer is read as milliseconds when the unit is ms",
			env:  map[string]string{"T_TIMEOUT_MS": "250"},
			want: kinds{Wait: 250 * time.Millisecond},
		},
		{
			name: "a bare integer is read as seconds when the unit is s",
			env:  map[string]string{"T_INTERVAL_S": "30"},
			want: kinds{Interval: 30 * time.Second},
		},
		{
			name: "a field with a unit still accepts Go syntax",
			env:  map[string]string{"T_TIMEOUT_MS": "2s", "T_INTERVAL_S": "1500ms"},
			want: kinds{Wait: 2 * time.Second, Interval: 1500 * time.Millisecond},
		},
		{
			name: "a list is split on commas with spaces trimmed and empty items dropped",
			env:  map[string]string{"T_HOSTS": " a.example , b.example,, c.example ,"},
			want: kinds{Hosts: []string{"a.example", "b.example", "c.example"}},
		},
		{
			name: "a list of one item has one element",
			env:  map[string]string{"T_HOSTS": "only.example"},
			want: kinds{Hosts: []string{"only.example"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got kinds
			err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(tt.env)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadReportsMalformedValuesByName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		wantPart string
	}{
		{
			name:     "a bool that is not true or false is refused",
			env:      map[string]string{"T_DEBUG": "yes"},
			wantPart: `T_DEBUG: must be true or false, got "yes"`,
		},
		{
			name:     "an int that is not a number is refused",
			env:      map[string]string{"T_WORKERS": "four"},
			wantPart: `T_WORKERS: must be an integer, got "four"`,
		},
		{
			name:     "an int with a fraction is refused",
			env:      map[string]string{"T_WORKERS": "1.5"},
			wantPart: `T_WORKERS: must be an integer, got "1.5"`,
		},
		{
			name:     "an int32 that overflows 32 bits is refused",
			env:      map[string]string{"T_POOL": "2147483648"},
			wantPart: `T_POOL: must be an integer, got "2147483648"`,
		},
		{
			name:     "a float that is not a number is refused",
			env:      map[string]string{"T_RATIO": "half"},
			wantPart: `T_RATIO: must be a number, got "half"`,
		},
		{
			name:     "a duration that is not a duration is refused",
			env:      map[string]string{"T_TIMEOUT": "soon"},
			wantPart: `T_TIMEOUT: must be a duration such as 5s or 250ms, got "soon"`,
		},
		{
			name:     "a bare integer is refused for a duration without a unit",
			env:      map[string]string{"T_TIMEOUT": "5"},
			wantPart: `T_TIMEOUT: must be a duration such as 5s or 250ms, got "5"`,
		},
		{
			name:     "a bare integer with garbage is refused for a duration with a unit",
			env:      map[string]string{"T_TIMEOUT_MS": "250x"},
			wantPart: `T_TIMEOUT_MS: must be a duration such as 5s or 250ms, got "250x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got kinds
			err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(tt.env)})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantPart)
		})
	}
}

type withDefaults struct {
	Name     string        `env:"D_NAME" default:"uptime"`
	Enabled  bool          `env:"D_ENABLED" default:"true"`
	Size     int32         `env:"D_SIZE" default:"10"`
	Ratio    float64       `env:"D_RATIO" default:"0.5"`
	Timeout  time.Duration `env:"D_TIMEOUT_MS" default:"5000" unit:"ms"`
	Channels []string      `env:"D_CHANNELS" default:"email,slack"`
}

func TestLoadAppliesDefaults(t *testing.T) {
	t.Parallel()
	defaults := withDefaults{
		Name: "uptime", Enabled: true, Size: 10, Ratio: 0.5,
		Timeout: 5 * time.Second, Channels: []string{"email", "slack"},
	}
	tests := []struct {
		name string
		env  map[string]string
		want withDefaults
	}{
		{
			name: "every default applies when no variable is set",
			env:  map[string]string{},
			want: defaults,
		},
		{
			name: "a default applies when the variable is empty or blank",
			env:  map[string]string{"D_NAME": "", "D_SIZE": "   "},
			want: defaults,
		},
		{
			name: "a set variable wins over its default",
			env:  map[string]string{"D_NAME": "api", "D_ENABLED": "false", "D_TIMEOUT_MS": "100", "D_CHANNELS": "webhook"},
			want: withDefaults{
				Name: "api", Enabled: false, Size: 10, Ratio: 0.5,
				Timeout: 100 * time.Millisecond, Channels: []string{"webhook"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got withDefaults
			err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(tt.env)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadReportsAMalformedDefault(t *testing.T) {
	t.Parallel()
	var got struct {
		Size int `env:"D_BAD_DEFAULT" default:"ten"`
	}
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(nil)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `D_BAD_DEFAULT: must be an integer, got "ten"`)
}

type withRequired struct {
	URL  string `env:"R_URL" required:"true"`
	Port int    `env:"R_PORT" required:"true" default:"80"`
}

func TestLoadEnforcesRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    withRequired
		wantErr []string
	}{
		{
			name: "set required variables are accepted",
			env:  map[string]string{"R_URL": "postgres://db", "R_PORT": "5432"},
			want: withRequired{URL: "postgres://db", Port: 5432},
		},
		{
			name:    "an unset required variable is reported by name",
			env:     map[string]string{"R_PORT": "5432"},
			wantErr: []string{"R_URL: is required"},
		},
		{
			name:    "a blank required variable counts as missing",
			env:     map[string]string{"R_URL": "  ", "R_PORT": "5432"},
			wantErr: []string{"R_URL: is required"},
		},
		{
			name:    "a default does not satisfy required",
			env:     map[string]string{"R_URL": "postgres://db"},
			wantErr: []string{"R_PORT: is required"},
		},
		{
			name:    "every missing variable is reported",
			env:     map[string]string{},
			wantErr: []string{"R_URL: is required", "R_PORT: is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got withRequired
			err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(tt.env)})
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			for _, part := range tt.wantErr {
				assert.Contains(t, err.Error(), part)
			}
		})
	}
}

type group struct {
	Host string `env:"N_HOST" required:"true"`
	Port int    `env:"N_PORT" default:"6379"`
}

type Embedded struct {
	Level string `env:"N_LEVEL" default:"info"`
}

type nested struct {
	Embedded
	Redis group
	Inner struct {
		Deep struct {
			Value string `env:"N_DEEP"`
		}
	}
	Timeout time.Duration `env:"N_TIMEOUT" default:"1s"`
	private string        //nolint:unused // proves unexported fields are skipped
}

func TestLoadWalksNestedStructs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want nested
	}{
		{
			name: "fields of named, embedded and deeply nested groups are filled",
			env:  map[string]string{"N_HOST": "redis", "N_PORT": "6380", "N_LEVEL": "debug", "N_DEEP": "bottom"},
			want: func() nested {
				n := nested{Embedded: Embedded{Level: "debug"}, Redis: group{Host: "redis", Port: 6380}, Timeout: time.Second}
				n.Inner.Deep.Value = "bottom"
				return n
			}(),
		},
		{
			name: "defaults inside nested groups apply",
			env:  map[string]string{"N_HOST": "redis"},
			want: nested{Embedded: Embedded{Level: "info"}, Redis: group{Host: "redis", Port: 6379}, Timeout: time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got nested
			err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(tt.env)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("a required variable inside a nested group is reported", func(t *testing.T) {
		t.Parallel()
		var got nested
		err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(nil)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "N_HOST: is required")
	})
}

var errRatioTooHigh = errors.New("V_RATIO: must be at most 1")

// validated checks a relation between fields, as service configs do.
type validated struct {
	URL     string  `env:"V_URL" required:"true"`
	Workers int     `env:"V_WORKERS" default:"4"`
	Ratio   float64 `env:"V_RATIO" default:"0.5"`
	Debug   bool    `env:"V_DEBUG"`
	Group   group
}

func (v validated) Validate() error {
	var errs []error
	if v.Ratio > 1 {
		errs = append(errs, errRatioTooHigh)
	}
	if v.Workers < 1 {
		errs = append(errs, errors.New("V_WORKERS: must be at least 1"))
	}
	return errors.Join(errs...)
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		// V_URL and N_HOST missing, V_DEBUG and N_PORT malformed, V_RATIO and
		// V_WORKERS parse but fail Validate.
		"V_DEBUG":   "maybe",
		"N_PORT":    "http",
		"V_RATIO":   "2",
		"V_WORKERS": "0",
	}
	var got validated
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(env)})
	require.Error(t, err)

	msg := err.Error()
	for _, part := range []string{
		"V_URL: is required",
		"N_HOST: is required",
		`V_DEBUG: must be true or false, got "maybe"`,
		`N_PORT: must be an integer, got "http"`,
		"V_RATIO: must be at most 1",
		"V_WORKERS: must be at least 1",
	} {
		assert.Contains(t, msg, part)
	}
	assert.ErrorIs(t, err, errRatioTooHigh, "Validate's errors must stay reachable with errors.Is")
	assert.Len(t, strings.Split(msg, "\n"), 6, "each problem on a line of its own:\n%s", msg)
}

func TestLoadReportsAMalformedVariableOnlyOnce(t *testing.T) {
	t.Parallel()
	// V_WORKERS fails to parse; Validate must then see its default (4), not
	// the zero value, and stay silent about it.
	env := map[string]string{"V_URL": "x", "N_HOST": "h", "V_WORKERS": "many"}
	var got validated
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(env)})
	require.Error(t, err)
	assert.Equal(t, `V_WORKERS: must be an integer, got "many"`, err.Error())
	assert.Equal(t, 4, got.Workers, "the default stands in for the malformed value")
}

func TestLoadReturnsNilWhenEverythingIsValid(t *testing.T) {
	t.Parallel()
	env := map[string]string{"V_URL": "x", "N_HOST": "h"}
	var got validated
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(env)})
	require.NoError(t, err)
	assert.Equal(t, validated{URL: "x", Workers: 4, Ratio: 0.5, Group: group{Host: "h", Port: 6379}}, got)
}

func TestLoadReadsTheEnvFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  map[string]string
		want withDefaults
	}{
		{
			name: "values come from the file when the environment lacks them",
			file: "D_NAME=from-file\nD_SIZE=3\n# a comment\nD_CHANNELS=\"sms, push\"\n",
			env:  map[string]string{},
			want: withDefaults{Name: "from-file", Enabled: true, Size: 3, Ratio: 0.5, Timeout: 5 * time.Second, Channels: []string{"sms", "push"}},
		},
		{
			name: "the real environment wins over the file",
			file: "D_NAME=from-file\nD_SIZE=3\n",
			env:  map[string]string{"D_SIZE": "7"},
			want: withDefaults{Name: "from-file", Enabled: true, Size: 7, Ratio: 0.5, Timeout: 5 * time.Second, Channels: []string{"email", "slack"}},
		},
		{
			name: "an empty value in the file falls back to the default",
			file: "D_NAME=\n",
			env:  map[string]string{},
			want: withDefaults{Name: "uptime", Enabled: true, Size: 10, Ratio: 0.5, Timeout: 5 * time.Second, Channels: []string{"email", "slack"}},
		},
		{
			name: "export prefixes and single quotes are understood",
			file: "export D_NAME='with $dollar'\n",
			env:  map[string]string{},
			want: withDefaults{Name: "with $dollar", Enabled: true, Size: 10, Ratio: 0.5, Timeout: 5 * time.Second, Channels: []string{"email", "slack"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got withDefaults
			err := config.Load(&got, config.Options{EnvFile: writeEnvFile(t, tt.file), Lookup: lookup(tt.env)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("a required variable is satisfied by the file", func(t *testing.T) {
		t.Parallel()
		var got withRequired
		err := config.Load(&got, config.Options{
			EnvFile: writeEnvFile(t, "R_URL=postgres://file\nR_PORT=5433\n"),
			Lookup:  lookup(nil),
		})
		require.NoError(t, err)
		assert.Equal(t, withRequired{URL: "postgres://file", Port: 5433}, got)
	})

	t.Run("a malformed value in the file is reported by name", func(t *testing.T) {
		t.Parallel()
		var got withDefaults
		err := config.Load(&got, config.Options{EnvFile: writeEnvFile(t, "D_SIZE=big\n"), Lookup: lookup(nil)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `D_SIZE: must be an integer, got "big"`)
	})

	t.Run("a file that cannot be parsed is an error naming the file", func(t *testing.T) {
		t.Parallel()
		path := writeEnvFile(t, "D_NAME=ok\nTHIS IS NOT A LINE\n")
		var got withDefaults
		err := config.Load(&got, config.Options{EnvFile: path, Lookup: lookup(nil)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
	})

	t.Run("a missing file is not an error", func(t *testing.T) {
		t.Parallel()
		var got withDefaults
		err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(nil)})
		require.NoError(t, err)
	})
}

// The tests below change the working directory or the process environment,
// so they cannot run in parallel.

func TestLoadReadsDotEnvInTheWorkingDirectoryByDefault(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("D_NAME=dotenv\n"), 0o600))
	t.Chdir(dir)

	var got withDefaults
	err := config.Load(&got, config.Options{Lookup: lookup(nil)})
	require.NoError(t, err)
	assert.Equal(t, "dotenv", got.Name)
}

func TestLoadUsesTheProcessEnvironmentWithoutLookup(t *testing.T) {
	t.Setenv("D_NAME", "from-process")
	t.Setenv("D_SIZE", "12")

	var got withDefaults
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t)})
	require.NoError(t, err)
	assert.Equal(t, "from-process", got.Name)
	assert.Equal(t, int32(12), got.Size)
}

func TestLoadRejectsWhatIsNotAPointerToAStruct(t *testing.T) {
	t.Parallel()
	var n int
	tests := []struct {
		name string
		dst  any
	}{
		{name: "a struct value is refused", dst: withDefaults{}},
		{name: "a pointer to a non-struct is refused", dst: &n},
		{name: "a nil pointer to a struct is refused", dst: (*withDefaults)(nil)},
		{name: "nil is refused", dst: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := config.Load(tt.dst, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(nil)})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "pointer to a struct")
		})
	}
}

func TestLoadReportsAnUnsupportedFieldType(t *testing.T) {
	t.Parallel()
	var got struct {
		Count uint    `env:"U_COUNT"`
		IDs   []int   `env:"U_IDS"`
		Name  string  `env:"U_NAME"`
		Small float32 `env:"U_SMALL"`
	}
	env := map[string]string{"U_COUNT": "1", "U_IDS": "1,2", "U_NAME": "ok", "U_SMALL": "1.5"}
	err := config.Load(&got, config.Options{EnvFile: noEnvFile(t), Lookup: lookup(env)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "U_COUNT: unsupported type uint")
	assert.Contains(t, err.Error(), "U_IDS: unsupported list type []int")
	assert.Contains(t, err.Error(), "U_SMALL: unsupported type float32")
	assert.Equal(t, "ok", got.Name, "supported fields are still filled")
}

func TestPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		port    int
		wantErr bool
	}{
		{name: "port 1 is accepted", port: 1},
		{name: "port 8080 is accepted", port: 8080},
		{name: "port 65535 is accepted", port: 65535},
		{name: "port 0 is refused", port: 0, wantErr: true},
		{name: "a negative port is refused", port: -1, wantErr: true},
		{name: "port 65536 is refused", port: 65536, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := config.Port("HTTP_PORT", tt.port)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "HTTP_PORT")
			assert.Contains(t, err.Error(), "1..65535")
		})
	}
}

func TestBoundsNameTheVariableAndTheLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string // "" when the value is accepted
	}{
		{"a positive duration is accepted", config.Positive("FLUSH_MS", time.Millisecond), ""},
		{"a zero duration is refused", config.Positive("FLUSH_MS", 0), "FLUSH_MS: must be positive"},
		{"a negative duration is refused", config.Positive("FLUSH_MS", -time.Second), "FLUSH_MS: must be positive"},
		{"the low bound is inside", config.Between("BATCH", 1, 1, 10), ""},
		{"the high bound is inside", config.Between("BATCH", 10, 1, 10), ""},
		{"below the range is refused", config.Between("BATCH", 0, 1, 10), "BATCH: must be 1..10, got 0"},
		{"above the range is refused", config.Between("BATCH", 11, 1, 10), "BATCH: must be 1..10, got 11"},
		{"the minimum is accepted", config.AtLeast("RETRIES", 0, 0), ""},
		{"below the minimum is refused", config.AtLeast("RETRIES", -1, 0), "RETRIES: must be at least 0, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.want == "" {
				require.NoError(t, tt.err)
				return
			}
			require.EqualError(t, tt.err, tt.want)
		})
	}
}
