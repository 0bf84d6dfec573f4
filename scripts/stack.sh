#!/usr/bin/env bash
# stack.sh starts and stops a local PostgreSQL and Redis on loopback for
# development ("dev") or for the test suites ("test"), with data under
# <repo>/.local/<name>/. It installs the distribution packages when missing.
#
#   scripts/stack.sh up     <dev|test>  install if missing, init if needed, start
#   scripts/stack.sh down   <dev|test>  stop both (idempotent)
#   scripts/stack.sh status <dev|test>  exit 0 when both run, 1 otherwise
#   scripts/stack.sh env    <dev|test>  print shell exports: eval "$(scripts/stack.sh env dev)"
#   scripts/stack.sh wipe   <dev|test>  down, then delete the data
#   scripts/stack.sh pg-stop|pg-start <name>  stop or start PostgreSQL alone (outage tests)
# Names test-<x> are private test stacks; they need PG_PORT and REDIS_PORT.
#
# Ports (override with PG_PORT / REDIS_PORT):
#   dev:  PostgreSQL 55432, Redis 56379
#   test: PostgreSQL 55433, Redis 56380
#
# Messages go to stderr so that stdout of `env` can be eval'ed.
set -euo pipefail

readonly PG_ROLE=servercheck
readonly PG_PASSWORD=servercheck
readonly PG_DATABASE=servercheck
readonly WAIT_SECONDS=60

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd -P)"
readonly SCRIPT_DIR REPO_ROOT

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 2
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/stack.sh <up|down|status|env|wipe> <dev|test>

  up      install PostgreSQL and Redis if missing, initialise and start them
  down    stop both servers
  status  print whether each server runs; exit 0 when both run, 1 otherwise
  env     print shell exports, e.g.: eval "$(scripts/stack.sh env test)"
  wipe    stop both servers and delete their data

environment: PG_PORT, REDIS_PORT override the default ports.
EOF
	exit 2
}

# ---------------------------------------------------------------------------
# Configuration per stack name.

configure() {
	NAME="$1"
	case "${NAME}" in
	dev)
		DEFAULT_PG_PORT=55432
		DEFAULT_REDIS_PORT=56379
		;;
	test)
		DEFAULT_PG_PORT=55433
		DEFAULT_REDIS_PORT=56380
		;;
	test-*)
		# A private throw-away stack for one test (e.g. one that stops
		# PostgreSQL): test settings, ports given by the caller.
		[[ "${NAME}" =~ ^test-[a-z0-9-]+$ ]] || usage
		[ -n "${PG_PORT:-}" ] && [ -n "${REDIS_PORT:-}" ] || die "stack ${NAME}: set PG_PORT and REDIS_PORT"
		DEFAULT_PG_PORT="${PG_PORT}"
		DEFAULT_REDIS_PORT="${REDIS_PORT}"
		;;
	*) usage ;;
	esac
	PGPORT_="${PG_PORT:-${DEFAULT_PG_PORT}}"
	REDISPORT_="${REDIS_PORT:-${DEFAULT_REDIS_PORT}}"
	[[ "${PGPORT_}" =~ ^[0-9]+$ ]] || die "PG_PORT must be a number, got '${PGPORT_}'"
	[[ "${REDISPORT_}" =~ ^[0-9]+$ ]] || die "REDIS_PORT must be a number, got '${REDISPORT_}'"

	LOCAL_DIR="${REPO_ROOT}/.local/${NAME}"
	PG_LINK="${LOCAL_DIR}/pgdata"
	REDIS_DIR="${LOCAL_DIR}/redis"
	REDIS_PIDFILE="${LOCAL_DIR}/redis.pid"
	REDIS_PORTFILE="${LOCAL_DIR}/redis.port"
	REDIS_LOG="${LOCAL_DIR}/redis.log"
	# Used when the PostgreSQL user cannot reach the repository (see pg_layout).
	local hash
	hash="$(printf '%s' "${REPO_ROOT}" | sha256sum | cut -c1-10)"
	EXTERNAL_DIR="/var/tmp/servercheck-${NAME}-${hash}"


	# initdb and postgres refuse to run as root: as root they run as the
	# `postgres` system user that the Debian package creates.
	if [[ "${EUID}" -eq 0 ]]; then
		PG_USER=postgres
	else
		PG_USER="$(id -un)"
	fi
}

database_url() {
	printf 'postgres://%s:%s@127.0.0.1:%s/%s?sslmode=disable' \
		"${PG_ROLE}" "${PG_PASSWORD}" "$1" "${PG_DATABASE}"
}

# warn_overrides makes port overrides visible: REDIS_PORT is also what
# `env` exports, so a shell that eval'ed the dev settings would otherwise
# silently move the test Redis onto the dev port.
warn_overrides() {
	if [[ "${PGPORT_}" != "${DEFAULT_PG_PORT}" ]]; then
		log "PG_PORT=${PGPORT_} from the environment overrides ${DEFAULT_PG_PORT}"
	fi
	if [[ "${REDISPORT_}" != "${DEFAULT_REDIS_PORT}" ]]; then
		log "REDIS_PORT=${REDISPORT_} from the environment overrides ${DEFAULT_REDIS_PORT}"
	fi
}

# as_pg runs a command as the PostgreSQL user, from "/" so that a working
# directory it cannot enter (e.g. /root) does not produce warnings.
as_pg() {
	if [[ "${EUID}" -eq 0 ]]; then
		(cd / && runuser -u "${PG_USER}" -- "$@")
	else
		"$@"
	fi
}

# ---------------------------------------------------------------------------
# Installation.

# find_pg_bindir sets PG_BINDIR: the binaries matching an existing data
# directory when installed, else the newest installed major version.
find_pg_bindir() {
	PG_BINDIR=""
	if [[ -n "${PG_BINDIR_OVERRIDE:-}" ]]; then
		PG_BINDIR="${PG_BINDIR_OVERRIDE}"
		return 0
	fi
	local version_file="${PG_DATA:-}/PG_VERSION" major
	if [[ -n "${PG_DATA:-}" ]] && as_pg test -r "${version_file}"; then
		major="$(as_pg cat "${version_file}")"
		if [[ -x "/usr/lib/postgresql/${major}/bin/pg_ctl" ]]; then
			PG_BINDIR="/usr/lib/postgresql/${major}/bin"
			return 0
		fi
	fi
	local newest
	newest="$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n 1 || true)"
	if [[ -n "${newest}" ]]; then
		PG_BINDIR="$(dirname "${newest}")"
	fi
}

install_packages() {
	local -a sudo=()
	if [[ "${EUID}" -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 ||
			die "PostgreSQL or Redis is missing and you are not root and sudo is not installed; install the packages 'postgresql' and 'redis-server' yourself"
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "PostgreSQL or Redis is missing and apt-get is not available; install PostgreSQL (>= 15) and Redis (>= 7) yourself"
	log "installing postgresql and redis-server with apt-get"
	# The lock timeout makes apt wait for another apt/dpkg run instead of failing.
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 install -y postgresql redis-server
}

ensure_installed() {
	find_pg_bindir
	if [[ -z "${PG_BINDIR}" ]] || ! command -v redis-server >/dev/null 2>&1; then
		install_packages
		find_pg_bindir
	fi
	[[ -n "${PG_BINDIR}" && -x "${PG_BINDIR}/pg_ctl" ]] ||
		die "pg_ctl not found under /usr/lib/postgresql/*/bin after installing"
	command -v redis-server >/dev/null 2>&1 || die "redis-server not found after installing"
	if [[ "${EUID}" -eq 0 ]] && ! id -u "${PG_USER}" >/dev/null 2>&1; then
		die "running as root but there is no '${PG_USER}' system user to run PostgreSQL as"
	fi
	local redis_major
	redis_major="$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')"
	if [[ -n "${redis_major}" && "${redis_major}" -lt 7 ]]; then
		log "warning: redis-server ${redis_major}.x found; Redis 7 is expected"
	fi
}

# ---------------------------------------------------------------------------
# PostgreSQL.

# pg_layout sets PG_DATA (the real data directory, symlinks resolved),
# PG_PARENT, PG_LOG and PG_SOCKDIR. With create=1 it also creates the
# directories, choosing where the data goes on first use.
#
# As root, PostgreSQL runs as `postgres`, which may be unable to traverse the
# repository (a clone under /root, mode 700). Then the data goes to
# /var/tmp/servercheck-<name>-<hash>/ and .local/<name>/pgdata (and
# postgres.log) are symlinks to it.
pg_layout() {
	local create="$1"
	if [[ -L "${PG_LINK}" ]]; then
		# Not `readlink -f`: it fails when the target's folder is gone.
		PG_DATA="$(readlink -- "${PG_LINK}")"
		# The /var/tmp side may have been cleaned up behind our back.
		if [[ "${create}" -eq 1 && "${PG_DATA}" == "${EXTERNAL_DIR}/pgdata" ]]; then
			pg_make_external
		fi
	elif [[ -d "${PG_LINK}" ]]; then
		PG_DATA="${PG_LINK}"
	elif [[ "${create}" -eq 1 ]]; then
		mkdir -p "${LOCAL_DIR}"
		if as_pg test -x "${LOCAL_DIR}" && as_pg test -r "${LOCAL_DIR}"; then
			mkdir -m 700 "${PG_LINK}"
			if [[ "${EUID}" -eq 0 ]]; then
				chown "${PG_USER}:" "${PG_LINK}"
			fi
			PG_DATA="${PG_LINK}"
		else
			pg_make_external
			ln -s "${EXTERNAL_DIR}/pgdata" "${PG_LINK}"
			ln -sfn "${EXTERNAL_DIR}/postgres.log" "${LOCAL_DIR}/postgres.log"
			log "note: user '${PG_USER}' cannot reach ${LOCAL_DIR};" \
				"PostgreSQL data is in ${EXTERNAL_DIR} (linked from ${PG_LINK})"
			PG_DATA="${EXTERNAL_DIR}/pgdata"
		fi
	else
		PG_DATA=""
		PG_PARENT=""
		PG_LOG=""
		PG_SOCKDIR=""
		return 0
	fi
	PG_PARENT="$(dirname "${PG_DATA}")"
	PG_LOG="${PG_PARENT}/postgres.log"
	if [[ "${create}" -eq 1 && "${EUID}" -eq 0 && ! -e "${PG_LOG}" ]]; then
		# pg_ctl opens the log as the PostgreSQL user, in a root-owned folder.
		install -o "${PG_USER}" -g "${PG_USER}" -m 600 /dev/null "${PG_LOG}"
	fi
	# The socket lives next to the data when the PostgreSQL user may write
	# there and the path fits in sun_path (108 bytes); otherwise in /tmp.
	# The port in the socket name keeps stacks apart.
	PG_SOCKDIR="${PG_PARENT}"
	if ! as_pg test -w "${PG_SOCKDIR}" 2>/dev/null ||
		((${#PG_SOCKDIR} + ${#PGPORT_} + 12 > 100)); then
		PG_SOCKDIR=/tmp
	fi
}

pg_make_external() {
	if [[ ! -e "${EXTERNAL_DIR}" ]]; then
		as_pg mkdir -m 700 "${EXTERNAL_DIR}"
	fi
	# /var/tmp is shared: refuse a directory someone else prepared.
	local owner
	owner="$(stat -c %U -- "${EXTERNAL_DIR}")"
	[[ -d "${EXTERNAL_DIR}" && ! -L "${EXTERNAL_DIR}" && "${owner}" == "${PG_USER}" ]] ||
		die "${EXTERNAL_DIR} exists but is not a directory owned by ${PG_USER}; remove it"
	if [[ ! -e "${EXTERNAL_DIR}/pgdata" ]]; then
		as_pg mkdir -m 700 "${EXTERNAL_DIR}/pgdata"
	fi
}

pg_running() {
	[[ -n "${PG_DATA}" && -n "${PG_BINDIR}" ]] || return 1
	as_pg "${PG_BINDIR}/pg_ctl" status -D "${PG_DATA}" >/dev/null 2>&1
}

# pg_running_port and pg_running_sockdir read the running server's
# postmaster.pid, which can differ from this run's settings.
pg_running_port() {
	as_pg sed -n 4p "${PG_DATA}/postmaster.pid" 2>/dev/null || true
}

pg_running_sockdir() {
	as_pg sed -n 5p "${PG_DATA}/postmaster.pid" 2>/dev/null || true
}

pg_log_tail() {
	if [[ -n "${PG_LOG:-}" ]] && as_pg test -r "${PG_LOG}"; then
		printf -- '--- last lines of %s ---\n' "${PG_LOG}" >&2
		as_pg tail -n 30 "${PG_LOG}" >&2 || true
		printf -- '---\n' >&2
	fi
}

pg_write_config() {
	local tuning
	if [[ "${NAME}" == test || "${NAME}" == test-* ]]; then
		# Throw-away data: trade durability for speed.
		tuning="max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off"
	else
		tuning="max_connections = 200"
	fi
	as_pg tee "${PG_DATA}/servercheck.conf" >/dev/null <<EOF
# Written by scripts/stack.sh on every 'up'; edits here are overwritten.
listen_addresses = '127.0.0.1'
port = ${PGPORT_}
unix_socket_directories = '${PG_SOCKDIR//\'/\'\'}'
shared_buffers = 256MB
${tuning}
EOF
}

pg_init() {
	if as_pg test -f "${PG_DATA}/PG_VERSION"; then
		return 0
	fi
	local version
	version="$("${PG_BINDIR}/postgres" --version)"
	log "initialising ${version} in ${PG_DATA}"
	local pwfile
	pwfile="$(mktemp)"
	# shellcheck disable=SC2064 # expand now: pwfile is local
	trap "rm -f -- '${pwfile}'" EXIT
	printf '%s\n' "${PG_PASSWORD}" >"${pwfile}"
	if [[ "${EUID}" -eq 0 ]]; then
		chown "${PG_USER}" "${pwfile}"
	fi
	# The bootstrap superuser is the application role, so it can CREATE
	# SCHEMA; TCP needs the password, the local socket is trusted.
	as_pg "${PG_BINDIR}/initdb" -D "${PG_DATA}" -U "${PG_ROLE}" --pwfile="${pwfile}" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null ||
		die "initdb failed for ${PG_DATA}"
	rm -f -- "${pwfile}"
	trap - EXIT
	printf "include_if_exists = 'servercheck.conf'\n" | as_pg tee -a "${PG_DATA}/postgresql.conf" >/dev/null
}

# port_answers_pg tells whether some PostgreSQL answers on the port.
port_answers_pg() {
	"${PG_BINDIR}/pg_isready" -q -h 127.0.0.1 -p "${PGPORT_}" -t 2 >/dev/null 2>&1
}

pg_up() {
	pg_layout 1
	find_pg_bindir
	if pg_running; then
		local port
		port="$(pg_running_port)"
		log "postgres (${NAME}) already running on 127.0.0.1:${port} (data ${PG_DATA})"
		[[ "${port}" == "${PGPORT_}" ]] ||
			log "warning: it listens on ${port}, not ${PGPORT_}; run 'down' then 'up' to move it"
		pg_ensure_database
		return 0
	fi
	if port_answers_pg; then
		die "another PostgreSQL already answers on 127.0.0.1:${PGPORT_}; stop it or set PG_PORT"
	fi
	pg_init
	pg_write_config
	log "starting postgres (${NAME}) on 127.0.0.1:${PGPORT_}, log ${PG_LOG}"
	# 9>&-: the server must not inherit (and so hold) the stack lock.
	if ! as_pg "${PG_BINDIR}/pg_ctl" start -D "${PG_DATA}" -l "${PG_LOG}" -w -t "${WAIT_SECONDS}" >/dev/null 9>&-; then
		pg_log_tail
		die "postgres (${NAME}) failed to start within ${WAIT_SECONDS}s; see the log above"
	fi
	local deadline=$((SECONDS + WAIT_SECONDS))
	until port_answers_pg; do
		if ((SECONDS >= deadline)); then
			pg_log_tail
			die "postgres (${NAME}) does not answer on 127.0.0.1:${PGPORT_} after ${WAIT_SECONDS}s"
		fi
		sleep 0.2
	done
	pg_ensure_database
}

pg_ensure_database() {
	local -a psql=(as_pg "${PG_BINDIR}/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_running_sockdir)"
		-p "$(pg_running_port)" -U "${PG_ROLE}" -d postgres)
	local exists
	exists="$("${psql[@]}" -tA -c "SELECT 1 FROM pg_database WHERE datname = '${PG_DATABASE}'")"
	if [[ "${exists}" != 1 ]]; then
		log "creating database ${PG_DATABASE}"
		"${psql[@]}" -c "CREATE DATABASE ${PG_DATABASE} OWNER ${PG_ROLE}"
	fi
}

pg_down() {
	pg_layout 0
	find_pg_bindir
	if [[ -z "${PG_DATA}" ]] || ! pg_running; then
		log "postgres (${NAME}) is not running"
		return 0
	fi
	log "stopping postgres (${NAME})"
	if ! as_pg "${PG_BINDIR}/pg_ctl" stop -D "${PG_DATA}" -m fast -w -t "${WAIT_SECONDS}" >/dev/null; then
		log "fast shutdown timed out; stopping immediately"
		as_pg "${PG_BINDIR}/pg_ctl" stop -D "${PG_DATA}" -m immediate -w -t "${WAIT_SECONDS}" >/dev/null ||
			die "could not stop postgres (${NAME}); see ${PG_LOG}"
	fi
}

pg_status() {
	pg_layout 0
	find_pg_bindir
	if pg_running; then
		local port
		port="$(pg_running_port)"
		printf 'postgres (%s): running on 127.0.0.1:%s, data %s\n' "${NAME}" "${port}" "${PG_DATA}"
		return 0
	fi
	printf 'postgres (%s): stopped\n' "${NAME}"
	return 1
}

# ---------------------------------------------------------------------------
# Redis.

# redis_pid prints the pid of our redis-server when it runs.
redis_pid() {
	[[ -f "${REDIS_PIDFILE}" ]] || return 1
	local pid
	pid="$(<"${REDIS_PIDFILE}")"
	[[ "${pid}" =~ ^[0-9]+$ ]] || return 1
	kill -0 "${pid}" 2>/dev/null || return 1
	# Guard against a recycled pid.
	local cmdline
	cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
	[[ "${cmdline}" == *redis-server* ]] || return 1
	printf '%s\n' "${pid}"
}

# redis_running_port prints the port our running redis-server was started on.
redis_running_port() {
	local port=""
	if [[ -r "${REDIS_PORTFILE}" ]]; then
		port="$(<"${REDIS_PORTFILE}")"
	fi
	printf '%s\n' "${port:-${REDISPORT_}}"
}

redis_ping() {
	local reply
	reply="$(redis-cli -h 127.0.0.1 -p "${REDISPORT_}" ping 2>/dev/null)" || return 1
	[[ "${reply}" == PONG ]]
}

redis_log_tail() {
	if [[ -r "${REDIS_LOG}" ]]; then
		printf -- '--- last lines of %s ---\n' "${REDIS_LOG}" >&2
		tail -n 30 "${REDIS_LOG}" >&2 || true
		printf -- '---\n' >&2
	fi
}

redis_up() {
	local pid
	if pid="$(redis_pid)"; then
		local port
		port="$(redis_running_port)"
		log "redis (${NAME}) already running on 127.0.0.1:${port} (pid ${pid})"
		[[ "${port}" == "${REDISPORT_}" ]] ||
			log "warning: it listens on ${port}, not ${REDISPORT_}; run 'down' then 'up' to move it"
		return 0
	fi
	if redis_ping; then
		die "another Redis already answers on 127.0.0.1:${REDISPORT_}; stop it or set REDIS_PORT"
	fi
	mkdir -p "${REDIS_DIR}"
	local -a persistence
	if [[ "${NAME}" == test || "${NAME}" == test-* ]]; then
		persistence=(--save "" --appendonly no)
	else
		persistence=(--appendonly yes)
	fi
	log "starting redis (${NAME}) on 127.0.0.1:${REDISPORT_}, log ${REDIS_LOG}"
	redis-server --port "${REDISPORT_}" --bind 127.0.0.1 --daemonize yes \
		--pidfile "${REDIS_PIDFILE}" --logfile "${REDIS_LOG}" --dir "${REDIS_DIR}" \
		"${persistence[@]}" 9>&- ||
		{
			redis_log_tail
			die "redis-server (${NAME}) failed to start"
		}
	printf '%s\n' "${REDISPORT_}" >"${REDIS_PORTFILE}"
	local deadline=$((SECONDS + WAIT_SECONDS))
	until redis_ping; do
		if ((SECONDS >= deadline)); then
			redis_log_tail
			die "redis (${NAME}) does not answer PONG on 127.0.0.1:${REDISPORT_} after ${WAIT_SECONDS}s"
		fi
		sleep 0.2
	done
}

redis_down() {
	local pid
	if ! pid="$(redis_pid)"; then
		log "redis (${NAME}) is not running"
		rm -f -- "${REDIS_PIDFILE}" "${REDIS_PORTFILE}"
		return 0
	fi
	log "stopping redis (${NAME}, pid ${pid})"
	# SIGTERM is Redis's graceful shutdown (it persists first when configured).
	kill -TERM "${pid}"
	local deadline=$((SECONDS + WAIT_SECONDS))
	while kill -0 "${pid}" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "redis did not exit within ${WAIT_SECONDS}s; killing it"
			kill -KILL "${pid}" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f -- "${REDIS_PIDFILE}" "${REDIS_PORTFILE}"
}

redis_status() {
	local pid
	if pid="$(redis_pid)"; then
		local port
		port="$(redis_running_port)"
		printf 'redis (%s): running on 127.0.0.1:%s, pid %s\n' "${NAME}" "${port}" "${pid}"
		return 0
	fi
	printf 'redis (%s): stopped\n' "${NAME}"
	return 1
}

# ---------------------------------------------------------------------------
# Commands.

# lock serialises up/down/wipe on one stack. Servers are started with fd 9
# closed so that they do not keep holding it.
lock() {
	mkdir -p "${LOCAL_DIR}"
	exec 9>"${LOCAL_DIR}/.lock"
	flock -w 120 9 || die "another stack.sh holds ${LOCAL_DIR}/.lock"
}

cmd_up() {
	warn_overrides
	lock
	ensure_installed
	pg_up
	redis_up
	log "stack ${NAME} is up; load its settings with: eval \"\$(scripts/stack.sh env ${NAME})\""
}

cmd_down() {
	[[ -d "${LOCAL_DIR}" ]] || {
		log "stack ${NAME} has no data in ${LOCAL_DIR}; nothing to stop"
		return 0
	}
	lock
	pg_down
	redis_down
}

cmd_status() {
	local rc=0
	pg_status || rc=1
	redis_status || rc=1
	return "${rc}"
}

# cmd_env prints the ports of the running servers, else the configured ones.
cmd_env() {
	local pg_port="${PGPORT_}" redis_port="${REDISPORT_}" url
	pg_layout 0
	find_pg_bindir
	if pg_running; then
		pg_port="$(pg_running_port)"
	fi
	if redis_pid >/dev/null; then
		redis_port="$(redis_running_port)"
	fi
	url="$(database_url "${pg_port}")"
	# Quoted because the URL contains '?', a glob character.
	printf "export DATABASE_URL='%s'\n" "${url}"
	printf 'export REDIS_HOST=127.0.0.1\n'
	printf 'export REDIS_PORT=%s\n' "${redis_port}"
	if [[ "${NAME}" == test || "${NAME}" == test-* ]]; then
		printf "export TEST_DATABASE_URL='%s'\n" "${url}"
		printf 'export TEST_REDIS_ADDR=127.0.0.1:%s\n' "${redis_port}"
	fi
}

cmd_wipe() {
	cmd_down
	local -a external=("${EXTERNAL_DIR}")
	if [[ -L "${PG_LINK}" ]]; then
		# The link may come from before the repository was moved.
		local target
		target="$(readlink -- "${PG_LINK}")"
		external+=("$(dirname "${target}")")
	fi
	local dir
	for dir in "${external[@]}"; do
		if [[ "${dir}" == /var/tmp/servercheck-"${NAME}"-* && -d "${dir}" ]]; then
			log "deleting ${dir}"
			rm -rf -- "${dir}"
		fi
	done
	if [[ -e "${LOCAL_DIR}" ]]; then
		log "deleting ${LOCAL_DIR}"
		rm -rf -- "${LOCAL_DIR}"
	fi
}

main() {
	[[ $# -eq 2 ]] || usage
	local cmd="$1"
	configure "$2"
	case "${cmd}" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	wipe) cmd_wipe ;;
	pg-stop) lock && ensure_installed && pg_down ;;
	pg-start) lock && ensure_installed && pg_up ;;
	*) usage ;;
	esac
}

main "$@"
