//go:build tools

// Package tools pins mailpit, the SMTP catcher `make up` runs. It is a
// module of its own so that its dependencies never move the linters' ones.
package tools

import _ "github.com/axllent/mailpit"
