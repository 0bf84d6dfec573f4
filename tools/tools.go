//go:build tools

// Package tools pins the versions of the command-line tools the repository
// builds from source (see scripts/tools.sh). It is kept out of go.work so
// that tool dependencies never leak into the services' module graphs.
package tools

import (
	_ "github.com/bufbuild/buf/cmd/buf"
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
