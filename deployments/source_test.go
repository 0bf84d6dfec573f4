package deployments_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tests read the services' Go source instead of keeping copies of their
// settings, so that a renamed variable or metric breaks them.

// repoRoot is the repository root, seen from this module's directory.
const repoRoot = ".."

// modulePrefix is the import path prefix of every package of the repository;
// the rest of an import path is its directory.
const modulePrefix = "github.com/servercheck/uptime/"

// envVar is one environment variable a command reads.
type envVar struct {
	Name    string
	Default string // the `default` tag; empty when none
}

// commandConfig is what one command (a main package) reads from the
// environment.
type commandConfig struct {
	Vars map[string]envVar
	// PortVar names the variable of the command's HTTP port: the env tag of
	// the Port or HTTPPort field of its Config. Empty for commands without
	// a server (migrate, devtoken).
	PortVar string
}

// port returns the port the command listens on given env, falling back to
// the variable's default.
func (c commandConfig) port(t *testing.T, env map[string]string) int {
	t.Helper()
	require.NotEmpty(t, c.PortVar, "the command has no port variable")
	v, ok := env[c.PortVar]
	if !ok {
		v = c.Vars[c.PortVar].Default
	}
	p, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q", c.PortVar, v)
	return p
}

// goPackage is one parsed directory of non-test Go files.
type goPackage struct {
	files   []*ast.File
	structs map[string]declaredStruct
}

type declaredStruct struct {
	st      *ast.StructType
	imports map[string]string // name in the file -> import path
}

var (
	packagesMu sync.Mutex
	packages   = map[string]*goPackage{}
)

// loadPackage parses the non-test Go files of dir (cached: tests run in
// parallel and share the parsed source).
func loadPackage(t *testing.T, dir string) *goPackage {
	t.Helper()
	packagesMu.Lock()
	defer packagesMu.Unlock()
	if p, ok := packages[dir]; ok {
		return p
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	p := &goPackage{structs: map[string]declaredStruct{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		p.files = append(p.files, f)
		imports := map[string]string{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(path)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = path
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					p.structs[ts.Name.Name] = declaredStruct{st: st, imports: imports}
				}
			}
			return true
		})
	}
	require.NotEmpty(t, p.files, "no Go files in %s", dir)
	packages[dir] = p
	return p
}

// lookupCallee matches functions that read one variable by name:
// os.Getenv, os.LookupEnv and the lookup functions commands receive.
var lookupCallee = regexp.MustCompile(`(?i)lookup|getenv`)

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// readConfig returns every variable the command whose main package is in
// target (relative to the repository root, as in the Dockerfile's TARGET)
// reads: the env tags of the structs it declares, followed into nested
// struct fields of other packages of the repository the way pkg/config fills
// them, plus names passed literally to a lookup function (db/cmd/migrate).
func readConfig(t *testing.T, target string) commandConfig {
	t.Helper()
	pkg := loadPackage(t, filepath.Join(repoRoot, target))
	cfg := commandConfig{Vars: map[string]envVar{}}
	visited := map[*ast.StructType]bool{}
	var walk func(s declaredStruct, pkg *goPackage, root bool)
	walk = func(s declaredStruct, pkg *goPackage, root bool) {
		if visited[s.st] {
			return
		}
		visited[s.st] = true
		for _, field := range s.st.Fields.List {
			if field.Tag != nil {
				tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`"))
				if name, ok := tag.Lookup("env"); ok {
					cfg.Vars[name] = envVar{Name: name, Default: tag.Get("default")}
					for _, n := range field.Names {
						if root && (n.Name == "Port" || n.Name == "HTTPPort") {
							cfg.PortVar = name
						}
					}
					continue
				}
			}
			switch typ := field.Type.(type) {
			case *ast.Ident:
				if nested, ok := pkg.structs[typ.Name]; ok {
					walk(nested, pkg, false)
				}
			case *ast.SelectorExpr:
				x, ok := typ.X.(*ast.Ident)
				if !ok {
					continue
				}
				path, ok := s.imports[x.Name]
				if !ok || !strings.HasPrefix(path, modulePrefix) {
					continue
				}
				other := loadPackage(t, filepath.Join(repoRoot, strings.TrimPrefix(path, modulePrefix)))
				if nested, ok := other.structs[typ.Sel.Name]; ok {
					walk(nested, other, false)
				}
			}
		}
	}
	for name, s := range pkg.structs {
		walk(s, pkg, name == "Config")
	}
	for _, f := range pkg.files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var callee string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				callee = fn.Name
			case *ast.SelectorExpr:
				callee = fn.Sel.Name
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || !lookupCallee.MatchString(callee) {
				return true
			}
			if name, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(name) {
				if _, seen := cfg.Vars[name]; !seen {
					cfg.Vars[name] = envVar{Name: name}
				}
			}
			return true
		})
	}
	require.NotEmpty(t, cfg.Vars, "found no variable read by %s", target)
	return cfg
}

// metricKind is how a metric was registered.
type metricKind string

const (
	counter   metricKind = "counter"
	gauge     metricKind = "gauge"
	histogram metricKind = "histogram"
	summary   metricKind = "summary"
)

var optsKinds = map[string]metricKind{
	"CounterOpts": counter, "GaugeOpts": gauge, "HistogramOpts": histogram, "SummaryOpts": summary,
}

var (
	metricsOnce sync.Once
	metricsSeen map[string]metricKind
	metricsErr  error
)

// registeredMetrics returns the name and kind of every metric registered in
// services/ and pkg/: the Name of each prometheus.{Counter,Gauge,Histogram,
// Summary}Opts literal in non-test code.
func registeredMetrics(t *testing.T) map[string]metricKind {
	t.Helper()
	metricsOnce.Do(func() {
		metricsSeen = map[string]metricKind{}
		fset := token.NewFileSet()
		for _, dir := range []string{"services", "pkg"} {
			err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
					return err
				}
				f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
				if err != nil {
					return err
				}
				ast.Inspect(f, func(n ast.Node) bool {
					lit, ok := n.(*ast.CompositeLit)
					if !ok {
						return true
					}
					sel, ok := lit.Type.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					kind, ok := optsKinds[sel.Sel.Name]
					if !ok {
						return true
					}
					for _, elt := range lit.Elts {
						kv, ok := elt.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						key, ok := kv.Key.(*ast.Ident)
						val, isLit := kv.Value.(*ast.BasicLit)
						if ok && isLit && key.Name == "Name" && val.Kind == token.STRING {
							name, _ := strconv.Unquote(val.Value)
							metricsSeen[name] = kind
						}
					}
					return true
				})
				return nil
			})
			if err != nil {
				metricsErr = err
				return
			}
		}
	})
	require.NoError(t, metricsErr)
	require.NotEmpty(t, metricsSeen)
	return metricsSeen
}

// goConstant returns the value of the string constant name declared in the
// package in dir (relative to the repository root).
func goConstant(t *testing.T, dir, name string) string {
	t.Helper()
	pkg := loadPackage(t, filepath.Join(repoRoot, dir))
	for _, f := range pkg.files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != name || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s.%s is not a literal", dir, name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					return v
				}
			}
		}
	}
	require.Failf(t, "constant not found", "%s.%s", dir, name)
	return ""
}

var (
	groupsOnce sync.Once
	groupsSeen map[string]bool
	groupsErr  error
)

// consumerGroups returns every consumer group name the services use: the
// Group field of stream.ConsumerConfig literals and constants named Group.
func consumerGroups(t *testing.T) map[string]bool {
	t.Helper()
	groupsOnce.Do(func() {
		groupsSeen = map[string]bool{}
		literal := regexp.MustCompile(`\bGroup:\s*"([a-z0-9-]+)"`)
		constant := regexp.MustCompile(`(?m)^const Group = "([a-z0-9-]+)"`)
		groupsErr = filepath.WalkDir(filepath.Join(repoRoot, "services"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, re := range []*regexp.Regexp{literal, constant} {
				for _, m := range re.FindAllSubmatch(src, -1) {
					groupsSeen[string(m[1])] = true
				}
			}
			return nil
		})
	})
	require.NoError(t, groupsErr)
	require.NotEmpty(t, groupsSeen)
	return groupsSeen
}
