package secretbox

import (
	"errors"
	"fmt"
)

// Config is the key settings of the services that seal or open monitor
// secrets (the api and the checker), read by pkg/config. Both must hold the
// same keys.
type Config struct {
	// Key seals new values and opens them: KeySize random bytes in
	// base64url or base64. Required in production; elsewhere an unset key
	// means DevelopmentKey.
	Key string `env:"MONITOR_SECRETS_KEY"`
	// OldKeys, comma-separated, still open values sealed before a rotation
	// until every value has been sealed again with Key.
	OldKeys []string `env:"MONITOR_SECRETS_OLD_KEYS"`
}

// Validate reports a malformed key, and a missing one in production, each
// naming its variable.
func (c Config) Validate(production bool) error {
	var errs []error
	if c.Key == "" {
		if production {
			errs = append(errs, errors.New("MONITOR_SECRETS_KEY: is required when NODE_ENV=production"))
		}
	} else if _, err := ParseKey(c.Key); err != nil {
		errs = append(errs, fmt.Errorf("MONITOR_SECRETS_KEY: %w", err))
	}
	for i, text := range c.OldKeys {
		if _, err := ParseKey(text); err != nil {
			errs = append(errs, fmt.Errorf("MONITOR_SECRETS_OLD_KEYS: key %d of %d: %w", i+1, len(c.OldKeys), err))
		}
	}
	return errors.Join(errs...)
}

// Box returns the Box of the configured keys. Without Key it uses
// DevelopmentKey and reports development, for the caller to warn about
// (Validate refuses that in production).
func (c Config) Box() (box *Box, development bool, err error) {
	current := DevelopmentKey()
	if development = c.Key == ""; !development {
		if current, err = ParseKey(c.Key); err != nil {
			return nil, false, fmt.Errorf("MONITOR_SECRETS_KEY: %w", err)
		}
	}
	old := make([]Key, 0, len(c.OldKeys))
	for i, text := range c.OldKeys {
		k, err := ParseKey(text)
		if err != nil {
			return nil, false, fmt.Errorf("MONITOR_SECRETS_OLD_KEYS: key %d of %d: %w", i+1, len(c.OldKeys), err)
		}
		old = append(old, k)
	}
	return New(current, old...), development, nil
}
