#!/usr/bin/env bash
# token.sh prints a development token for the local stack (make up):
#   scripts/token.sh [email] [role]    role: ADMIN, USER (default) or GUEST
# The user is created (or its role set) in the dev database first, since
# roles live in PostgreSQL, not in the token.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/dev.env
. "$root/scripts/dev.env"
eval "$("$root/scripts/stack.sh" env dev)"
export DATABASE_URL
[ -x "$root/bin/devtoken" ] || (cd services/api && go build -o "$root/bin/devtoken" ./cmd/devtoken)
"$root/bin/devtoken" --email "${1:-user@servercheck.local}" --role "${2:-USER}"
