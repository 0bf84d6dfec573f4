#!/usr/bin/env bash
# scale-checkers.sh N makes N checker processes run on the local system that
# `make up` started. The checker up.sh started is number 1
# (.local/dev/run/checker.pid, port 9103); numbers 2..N are extra bin/checker
# processes with CHECKER_HTTP_PORT=CHECKER_PORT_BASE+i (default base 9200, so
# checker-2 serves health and metrics on :9202), pid files
# .local/dev/run/checker-<i>.pid and logs .local/dev/logs/checker-<i>.log.
# They join the same consumer group and share the jobs.
#
# Extra checkers above N are stopped, highest number first, with SIGTERM: a
# checker stops reading, finishes and acks the checks it holds within its
# drain, and whatever is left stays pending until another checker's janitor
# reclaims it (after CHECKER_JOB_MIN_IDLE_MS). SIGKILL after 30 s.
# `make down` stops the extra checkers too.
#
#   scripts/scale-checkers.sh 3   # three checkers
#   scripts/scale-checkers.sh 1   # back to the one of make up
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
readonly MAX_CHECKERS=32

usage() {
	echo "usage: scripts/scale-checkers.sh N   (1 <= N <= $MAX_CHECKERS checkers; needs make up)" >&2
	exit 2
}
if [ $# -ne 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
	usage
fi
want=$((10#$1))
if [ "$want" -lt 1 ] || [ "$want" -gt "$MAX_CHECKERS" ]; then
	usage
fi

run="$root/.local/dev/run"
logs="$root/.local/dev/logs"
base="${CHECKER_PORT_BASE:-9200}"
[[ "$base" =~ ^[0-9]+$ ]] || { echo "scale-checkers: CHECKER_PORT_BASE must be a number" >&2; exit 2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! alive "$run/checker.pid"; then
	echo "scale-checkers: the checker of make up is not running; start the system with make up first" >&2
	exit 1
fi
[ -x "$root/bin/checker" ] || { echo "scale-checkers: bin/checker is missing; run make up" >&2; exit 1; }

# The same settings up.sh gives the services.
eval "$("$root/scripts/stack.sh" env dev)"
export DATABASE_URL REDIS_HOST REDIS_PORT
# shellcheck source=scripts/dev.env
. "$root/scripts/dev.env"

# Scale in: stop every extra checker numbered above N, highest first.
extra=()
for pidfile in "$run"/checker-*.pid; do
	[ -e "$pidfile" ] || continue
	i="${pidfile##*/checker-}"
	i="${i%.pid}"
	[[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -gt "$want" ] && extra+=("$i")
done
if [ "${#extra[@]}" -gt 0 ]; then
	mapfile -t extra < <(printf '%s\n' "${extra[@]}" | sort -rn)
fi
for i in "${extra[@]}"; do
	pidfile="$run/checker-$i.pid"
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "scale-checkers: checker-$i did not stop in 30 s; killing it (its jobs are reclaimed by the others)" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "scale-checkers: stopped checker-$i (pid $pid)" >&2
	fi
	rm -f "$pidfile"
done

# Scale out: start the missing ones, 2..N.
mkdir -p "$run" "$logs"
for ((i = 2; i <= want; i++)); do
	pidfile="$run/checker-$i.pid"
	alive "$pidfile" && continue
	port=$((base + i))
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "scale-checkers: port $port (checker-$i) is taken; set CHECKER_PORT_BASE to a free range" >&2
		exit 1
	fi
	# setsid detaches it from this shell, as up.sh does with the services.
	CHECKER_HTTP_PORT="$port" setsid "$root/bin/checker" >>"$logs/checker-$i.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	ok=""
	for _ in $(seq 1 100); do
		kill -0 "$(cat "$pidfile")" 2>/dev/null || break
		if curl -fsS "http://127.0.0.1:$port/health/readiness" >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.2
	done
	if [ -z "$ok" ]; then
		echo "scale-checkers: checker-$i is not ready; last log lines:" >&2
		tail -n 20 "$logs/checker-$i.log" >&2
		exit 1
	fi
	echo "scale-checkers: started checker-$i (pid $(cat "$pidfile"), http://127.0.0.1:$port/metrics, log $logs/checker-$i.log)" >&2
done

echo "scale-checkers: $want checker(s) running: checker (pid $(cat "$run/checker.pid"), :${CHECKER_HTTP_PORT:-9103})$(
	for ((i = 2; i <= want; i++)); do printf ', checker-%d (pid %s, :%d)' "$i" "$(cat "$run/checker-$i.pid")" "$((base + i))"; done
)"
