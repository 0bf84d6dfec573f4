#!/usr/bin/env bash
# tools.sh builds the pinned developer tools from the tools/ module into bin/.
#
# Usage: scripts/tools.sh TOOL...   e.g. scripts/tools.sh buf protoc-gen-go golangci-lint
#
# A tool is rebuilt only when its binary is missing or older than its
# module's go.sum (or go.mod), so calling this before every generate/lint run is cheap.
# Versions live in tools/go.mod; tools/tools.go keeps them required.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools_dir="${root}/tools"
bin_dir="${root}/bin"

usage() {
	echo "usage: $(basename "$0") TOOL..." >&2
	echo "tools: buf protoc-gen-go golangci-lint mailpit" >&2
	exit 2
}

# pkg_of maps a tool name to the package that builds it.
pkg_of() {
	case "$1" in
	buf) echo "github.com/bufbuild/buf/cmd/buf" ;;
	protoc-gen-go) echo "google.golang.org/protobuf/cmd/protoc-gen-go" ;;
	golangci-lint) echo "github.com/golangci/golangci-lint/v2/cmd/golangci-lint" ;;
	mailpit) echo "github.com/axllent/mailpit" ;;
	*) return 1 ;;
	esac
}

# dir_of is the module a tool is pinned in: mailpit (the SMTP catcher of
# `make up`) has a module of its own so that its dependencies never move
# the linters' ones.
dir_of() {
	case "$1" in
	mailpit) echo "${tools_dir}/mailpit" ;;
	*) echo "${tools_dir}" ;;
	esac
}

[ "$#" -gt 0 ] || usage

# Validate every name before building anything.
for tool in "$@"; do
	pkg_of "$tool" >/dev/null || {
		echo "tools.sh: unknown tool: ${tool}" >&2
		usage
	}
done

mkdir -p "$bin_dir"
tmp=""
trap 'rm -f "$tmp"' EXIT
for tool in "$@"; do
	out="${bin_dir}/${tool}"
	dir="$(dir_of "$tool")"
	if [ -x "$out" ] && [ ! "$out" -ot "${dir}/go.sum" ] && [ ! "$out" -ot "${dir}/go.mod" ]; then
		continue
	fi
	pkg="$(pkg_of "$tool")"
	echo "tools.sh: building ${tool} (${pkg})" >&2
	# GOWORK=off: tools/ lives under the workspace root but is not part of
	# go.work; without it the go command would resolve the package through the
	# workspace instead of the versions pinned in tools/go.mod.
	# Build to a temporary name and rename so that an interrupted build never
	# leaves a truncated binary that looks up to date.
	tmp="$(mktemp "${bin_dir}/.${tool}.XXXXXX")"
	(cd "$dir" && GOWORK=off go build -trimpath -o "$tmp" "$pkg")
	mv -f "$tmp" "$out"
	tmp=""
done
