package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/logging"
)

func TestNewWritesJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string
	}{
		{name: "json format writes one JSON object per line", format: "json"},
		{name: "the format is case-insensitive", format: "JSON"},
		{name: "an empty format means json", format: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := logging.New(&buf, logging.Config{Level: "info", Format: tt.format}, "checker")
			require.NoError(t, err)

			logger.Info("probe_done", "monitor_id", 42)

			lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
			require.Len(t, lines, 1)
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec), "line: %s", lines[0])
			assert.Equal(t, "checker", rec["service"])
			assert.Equal(t, "INFO", rec["level"])
			assert.Equal(t, "probe_done", rec["msg"])
			assert.InDelta(t, 42, rec["monitor_id"], 0)
			assert.Contains(t, rec, "time")
		})
	}
}

func TestNewWritesText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := logging.New(&buf, logging.Config{Level: "info", Format: "text"}, "notifier")
	require.NoError(t, err)

	logger.Warn("delivery_failed", "channel", "email")

	line := buf.String()
	assert.False(t, json.Valid(buf.Bytes()), "text output must not be JSON: %s", line)
	assert.Contains(t, line, "level=WARN")
	assert.Contains(t, line, "msg=delivery_failed")
	assert.Contains(t, line, "service=notifier")
	assert.Contains(t, line, "channel=email")
}

func TestNewFiltersByLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		level string
		want  []string
	}{
		{name: "debug lets every record through", level: "debug", want: []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{name: "info drops debug", level: "info", want: []string{"INFO", "WARN", "ERROR"}},
		{name: "warn drops debug and info", level: "warn", want: []string{"WARN", "ERROR"}},
		{name: "error keeps only errors", level: "error", want: []string{"ERROR"}},
		{name: "the level is case-insensitive", level: "WARN", want: []string{"WARN", "ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := logging.New(&buf, logging.Config{Level: tt.level, Format: "json"}, "api")
			require.NoError(t, err)

			logger.Debug("d")
			logger.Info("i")
			logger.Warn("w")
			logger.Error("e")

			var got []string
			for line := range strings.Lines(buf.String()) {
				var rec struct{ Level string }
				require.NoError(t, json.Unmarshal([]byte(line), &rec))
				got = append(got, rec.Level)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      logging.Config
		wantPart string
	}{
		{name: "an unknown level is refused", cfg: logging.Config{Level: "verbose", Format: "json"}, wantPart: `LOG_LEVEL: must be debug, info, warn or error, got "verbose"`},
		{name: "an empty level is refused", cfg: logging.Config{Level: "", Format: "json"}, wantPart: "LOG_LEVEL"},
		{name: "an unknown format is refused", cfg: logging.Config{Level: "info", Format: "xml"}, wantPart: `LOG_FORMAT: must be json or text, got "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := logging.New(&buf, tt.cfg, "api")
			require.Error(t, err)
			assert.Nil(t, logger)
			assert.Contains(t, err.Error(), tt.wantPart)
			assert.Zero(t, buf.Len(), "nothing is written on error")
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      logging.Config
		wantErrs []string
	}{
		{name: "the defaults are valid", cfg: logging.Config{Level: "info", Format: "json"}},
		{name: "debug text is valid", cfg: logging.Config{Level: "debug", Format: "text"}},
		{name: "upper-case values are valid", cfg: logging.Config{Level: "ERROR", Format: "TEXT"}},
		{name: "an unknown level is reported", cfg: logging.Config{Level: "trace", Format: "json"}, wantErrs: []string{"LOG_LEVEL"}},
		{name: "an unknown format is reported", cfg: logging.Config{Level: "info", Format: "logfmt"}, wantErrs: []string{`LOG_FORMAT: must be json or text, got "logfmt"`}},
		{name: "both problems are reported together", cfg: logging.Config{Level: "loud", Format: "yaml"}, wantErrs: []string{"LOG_LEVEL", "LOG_FORMAT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
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

	t.Run("every config Validate accepts is accepted by New", func(t *testing.T) {
		t.Parallel()
		for _, level := range []string{"debug", "info", "warn", "error"} {
			for _, format := range []string{"json", "text"} {
				cfg := logging.Config{Level: level, Format: format}
				require.NoError(t, cfg.Validate())
				_, err := logging.New(&bytes.Buffer{}, cfg, "svc")
				require.NoError(t, err, "level %s format %s", level, format)
			}
		}
	})
}
