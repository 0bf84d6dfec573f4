#!/usr/bin/env bash
# generate.sh checks the event contract in proto-events/ and regenerates its
# Go code into proto-events/gen/eventsv1 (committed; CI reruns this and fails
# on any diff).
#
# Steps: build the pinned buf and protoc-gen-go (scripts/tools.sh), check
# formatting, lint, check for breaking changes, generate.
#
# Breaking changes (buf breaking, rule set FILE) are checked against
# BUF_BREAKING_AGAINST when set, a buf input resolved from proto-events/; CI
# should point it at the target branch, e.g.
#   BUF_BREAKING_AGAINST='../.git#branch=main,subdir=proto-events'
# Otherwise the last commit is the baseline, and the check is skipped while no
# commit contains proto-events. BUF_BREAKING_AGAINST=none skips it.
#
# The output is deterministic: the headers name the pinned protoc-gen-go and
# "protoc (unknown)" (buf compiles in-process and reports no protoc version),
# and gen/ is cleaned first, so two runs produce identical files.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
"${root}/scripts/tools.sh" buf protoc-gen-go
buf="${root}/bin/buf"

cd "${root}/proto-events"

"$buf" format --diff --exit-code
"$buf" lint

against="${BUF_BREAKING_AGAINST:-}"
if [ -z "$against" ] && git -C "$root" rev-parse -q --verify 'HEAD:proto-events/buf.yaml' >/dev/null 2>&1; then
	against="${root}/.git#ref=HEAD,subdir=proto-events"
fi
if [ -n "$against" ] && [ "$against" != none ]; then
	"$buf" breaking --against "$against"
else
	echo "generate.sh: no committed proto-events to compare with; skipping buf breaking" >&2
fi

"$buf" generate
