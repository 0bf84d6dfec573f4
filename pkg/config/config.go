// Package config loads a service's settings from environment variables (and an
// optional .env file) into a tagged struct, and reports every problem at once.
//
// A field is bound to a variable with the `env` tag; `default` gives its value
// when the variable is unset and `required:"true"` makes an empty value an
// error. Nested structs without an `env` tag are walked, so shared groups
// (Postgres, Redis, HTTP, Log) can be embedded in every service's Config.
//
// Supported field types: string, bool, int, int32, int64, float64,
// time.Duration (Go syntax such as "5s", or a bare integer read as
// milliseconds when the tag `unit:"ms"` or `unit:"s"` says so) and []string
// (comma separated).
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Validator is implemented by config structs that check relations between
// fields after loading. Validate returns every problem joined with errors.Join.
type Validator interface {
	Validate() error
}

// Options tune Load.
type Options struct {
	// EnvFile is read when it exists; variables already set in the environment
	// win over it. Empty means ".env".
	EnvFile string
	// Lookup returns the value of an environment variable; nil means the
	// process environment. Tests pass a map-backed function.
	Lookup func(string) (string, bool)
}

// Load fills dst (a pointer to a struct) from the environment and then calls
// dst.Validate when dst implements Validator (nested groups are validated by
// the parent's Validate, explicitly). The returned error lists every
// missing or malformed variable, each named, joined with errors.Join.
func Load(dst any, opts Options) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", dst)
	}
	v := viper.New()
	envFile := opts.EnvFile
	if envFile == "" {
		envFile = ".env"
	}
	if _, err := os.Stat(envFile); err == nil {
		v.SetConfigFile(envFile)
		v.SetConfigType("env")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("read %s: %w", envFile, err)
		}
	}
	lookup := opts.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var problems []error
	fill(rv.Elem(), v, lookup, &problems)
	// Validate runs even when some variables failed to parse, so that one
	// start-up attempt shows every problem; validators skip empty values that
	// `required` already reports.
	if val, ok := dst.(Validator); ok {
		if err := val.Validate(); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

func fill(sv reflect.Value, v *viper.Viper, lookup func(string) (string, bool), problems *[]error) {
	st := sv.Type()
	for i := range st.NumField() {
		f := st.Field(i)
		fv := sv.Field(i)
		if !f.IsExported() {
			continue
		}
		name, ok := f.Tag.Lookup("env")
		if !ok {
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				fill(fv, v, lookup, problems)
			}
			continue
		}
		raw, set := lookup(name)
		if !set {
			// viper's .env keys are lower-cased.
			if val := v.GetString(strings.ToLower(name)); val != "" {
				raw, set = val, true
			}
		}
		raw = strings.TrimSpace(raw)
		if !set || raw == "" {
			if f.Tag.Get("required") == "true" {
				*problems = append(*problems, fmt.Errorf("%s: is required", name))
				continue
			}
			def, hasDef := f.Tag.Lookup("default")
			if !hasDef {
				continue
			}
			raw = def
		}
		if err := setValue(fv, raw, f.Tag.Get("unit")); err != nil {
			*problems = append(*problems, fmt.Errorf("%s: %w", name, err))
			// Fall back to the default so that Validate does not report
			// the same variable a second time for its zero value.
			if def, ok := f.Tag.Lookup("default"); ok {
				_ = setValue(fv, def, f.Tag.Get("unit"))
			}
		}
	}
}

func setValue(fv reflect.Value, raw, unit string) error {
	if fv.Type() == reflect.TypeFor[time.Duration]() {
		d, err := parseDuration(raw, unit)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", raw)
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("must be an integer, got %q", raw)
		}
		fv.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("must be a number, got %q", raw)
		}
		fv.SetFloat(x)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", fv.Type())
		}
		var items []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		fv.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}

func parseDuration(raw, unit string) (time.Duration, error) {
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		switch unit {
		case "ms":
			return time.Duration(n) * time.Millisecond, nil
		case "s":
			return time.Duration(n) * time.Second, nil
		}
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 5s or 250ms, got %q", raw)
	}
	return d, nil
}

// Port reports a port variable outside 1..65535.
func Port(name string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: must be a port number 1..65535, got %d", name, port)
	}
	return nil
}

// Positive reports a duration variable that is zero or negative.
func Positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be positive", name)
	}
	return nil
}

// Between reports an integer variable outside lo..hi.
func Between(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: must be %d..%d, got %d", name, lo, hi, v)
	}
	return nil
}

// AtLeast reports an integer variable below lo.
func AtLeast(name string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("%s: must be at least %d, got %d", name, lo, v)
	}
	return nil
}
