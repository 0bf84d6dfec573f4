#!/usr/bin/env bash
# services.sh is sourced by up.sh and down.sh: the services and their
# health/metrics ports (the api's is PORT; the others' are <NAME>_HTTP_PORT).
# shellcheck disable=SC2034
SERVICES=(api scheduler checker log-writer notifier)

service_port() {
	case "$1" in
	api) echo "${PORT:-4000}" ;;
	scheduler) echo "${SCHEDULER_HTTP_PORT:-9102}" ;;
	checker) echo "${CHECKER_HTTP_PORT:-9103}" ;;
	log-writer) echo "${LOG_WRITER_HTTP_PORT:-9104}" ;;
	notifier) echo "${NOTIFIER_HTTP_PORT:-9105}" ;;
	*) return 1 ;;
	esac
}
