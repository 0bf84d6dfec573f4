package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnvTemplateDocumentsEveryVariable keeps .env.template true: every
// `env:"NAME"` tag in the repository's Go code must appear there.
func TestEnvTemplateDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	tmpl, err := os.ReadFile(filepath.Join(root, ".env.template"))
	require.NoError(t, err)
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(tmpl), "\n") {
		if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(name, "#") {
			documented[strings.TrimSpace(name)] = true
		}
	}

	tag := regexp.MustCompile("`[^`]*env:\"([A-Z0-9_]+)\"")
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".local" || d.Name() == "tools") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range tag.FindAllStringSubmatch(string(src), -1) {
			found++
			assert.True(t, documented[m[1]], "%s (read in %s) is missing from .env.template", m[1], path)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, found, 10, "the walk found the config structs")
}
