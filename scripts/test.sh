#!/usr/bin/env bash
# test.sh starts throw-away PostgreSQL and Redis (scripts/stack.sh, "test"
# stack), runs every module's tests with -race and prints one summary line
# "N passed, N failed, N skipped". The stack is stopped afterwards unless
# KEEP_STACK=1. Extra arguments go to `go test` (e.g. -run TestX).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/stack.sh" up test
if [ "${KEEP_STACK:-0}" != 1 ]; then
	trap '"$root/scripts/stack.sh" down test' EXIT
fi
eval "$("$root/scripts/stack.sh" env test)"
export TEST_DATABASE_URL TEST_REDIS_ADDR

logs="$root/.local/test-logs"
rm -rf "$logs"
mkdir -p "$logs"
status=0
for m in $("$root/scripts/modules.sh"); do
	log="$logs/$(echo "$m" | tr / _).log"
	echo "== go test $m"
	if ! (cd "$m" && go test -race -count=1 -timeout 15m -v "$@" ./...) >"$log" 2>&1; then
		status=1
	fi
	# Package lines (ok / FAIL / no test files) and failures, not the -v noise.
	grep -E '^(ok|FAIL|---|panic:|\s+--- FAIL)|\[no test files\]|_test\.go:[0-9]+:' "$log" | grep -vE '^\s*--- (PASS|SKIP)' || true
done

count() { cat "$logs"/*.log | grep -cE "^\s*--- $1:" || true; }
passed=$(count PASS)
failed=$(count FAIL)
skipped=$(count SKIP)
echo
echo "logs: $logs"
if [ "$skipped" -gt 0 ]; then
	echo "skipped tests:"
	cat "$logs"/*.log | grep -E '^\s*--- SKIP:' || true
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ]; then
	echo "test.sh: no test ran" >&2
	exit 1
fi
exit "$status"
