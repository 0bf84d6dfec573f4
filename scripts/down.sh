#!/usr/bin/env bash
# down.sh stops what up.sh started: every service, the extra checkers of
# scale-checkers.sh and the mail catcher (SIGTERM, then SIGKILL after 30 s),
# then PostgreSQL and Redis. It leaves no process behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"
run="$root/.local/dev/run"

# Extra checkers started by scale-checkers.sh: checker-<i>.pid.
extra=()
for pidfile in "$run"/checker-*.pid; do
	[ -e "$pidfile" ] && extra+=("$(basename "$pidfile" .pid)")
done

for svc in "${SERVICES[@]}" "${extra[@]}" mailpit; do
	pidfile="$run/$svc.pid"
	[ -f "$pidfile" ] || continue
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "down: $svc did not stop in 30 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "down: stopped $svc" >&2
	fi
	rm -f "$pidfile"
done
"$root/scripts/stack.sh" down dev
