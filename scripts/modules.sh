#!/usr/bin/env bash
# modules.sh prints the directories of the workspace's Go modules, one per
# line, read from go.work (tools/ is deliberately not in go.work).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p'
