#!/usr/bin/env bash
# up.sh runs the whole system locally: PostgreSQL and Redis on loopback
# (installed from Debian packages when missing), migrations, and every
# service built from source and started in the background with logs under
# .local/dev/logs. Running it again restarts nothing that still runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/services.sh
. "$root/scripts/services.sh"

"$root/scripts/stack.sh" up dev
eval "$("$root/scripts/stack.sh" env dev)"
export DATABASE_URL REDIS_HOST REDIS_PORT
# shellcheck source=scripts/dev.env
. "$root/scripts/dev.env"

echo "up: building services" >&2
make -s -C "$root" build

echo "up: migrating $DATABASE_URL" >&2
"$root/bin/migrate" up

run="$root/.local/dev/run"
logs="$root/.local/dev/logs"
mkdir -p "$run" "$logs"

# The mail catcher: the notifier delivers to its SMTP port (dev.env) and
# its web UI shows what arrived. Built from the pinned version on first use.
"$root/scripts/tools.sh" mailpit
if [ -f "$run/mailpit.pid" ] && kill -0 "$(cat "$run/mailpit.pid")" 2>/dev/null; then
	echo "up: mailpit already running (pid $(cat "$run/mailpit.pid"))" >&2
else
	setsid "$root/bin/mailpit" --smtp "127.0.0.1:${SMTP_PORT}" --listen "127.0.0.1:${MAILPIT_UI_PORT}" \
		--database "$root/.local/dev/mailpit.db" --disable-version-check --smtp-auth-accept-any \
		>>"$logs/mailpit.log" 2>&1 </dev/null &
	echo $! >"$run/mailpit.pid"
	echo "up: started mailpit (pid $!, SMTP 127.0.0.1:${SMTP_PORT}, UI http://127.0.0.1:${MAILPIT_UI_PORT})" >&2
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:${MAILPIT_UI_PORT}/readyz" >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
for svc in "${SERVICES[@]}"; do
	pidfile="$run/$svc.pid"
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "up: $svc already running (pid $(cat "$pidfile"))" >&2
		continue
	fi
	# setsid detaches the service from this shell so it outlives `make up`.
	setsid "$root/bin/$svc" >>"$logs/$svc.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	echo "up: started $svc (pid $!, log $logs/$svc.log)" >&2
done

for svc in "${SERVICES[@]}"; do
	port="$(service_port "$svc")"
	ok=""
	for _ in $(seq 1 100); do
		if curl -fsS "http://127.0.0.1:$port/health/readiness" >/dev/null 2>&1; then
			ok=1
			break
		fi
		if ! kill -0 "$(cat "$run/$svc.pid")" 2>/dev/null; then
			break
		fi
		sleep 0.2
	done
	if [ -z "$ok" ]; then
		echo "up: $svc is not ready; last log lines:" >&2
		tail -n 20 "$logs/$svc.log" >&2
		exit 1
	fi
done

token="$("$root/bin/devtoken" --email "$ADMIN_EMAILS" --role ADMIN --ttl 12h)"

cat <<MSG

Server Check is running.
  API:          http://127.0.0.1:4000/api/v1   (health: http://127.0.0.1:4000/health/readiness)
  Swagger UI:   http://127.0.0.1:4000/api/docs
  Metrics:      http://127.0.0.1:4000/metrics and :9102 (scheduler) :9103 (checker) :9104 (log-writer) :9105 (notifier)
  PostgreSQL:   $DATABASE_URL
  Redis:        $REDIS_HOST:$REDIS_PORT
  Mail catcher: http://127.0.0.1:${MAILPIT_UI_PORT}   (every email the notifier sends lands here; SMTP 127.0.0.1:${SMTP_PORT})
  Logs:         $logs/<service>.log

Development token (ADMIN $ADMIN_EMAILS, valid 12 h; another: make token EMAIL=you@example.com ROLE=USER):
$token

Try it:
  export TOKEN='$token'
  curl -s -X POST http://127.0.0.1:4000/api/v1/uptime -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -d '{"name":"My api","url":"http://127.0.0.1:4000/health/liveness","frequency":60}'
  curl -s http://127.0.0.1:4000/api/v1/uptime -H "Authorization: Bearer \$TOKEN"

Stop everything with: make down
MSG
