#!/usr/bin/env bash
# scale.sh runs the long checker scale test (e2e TestScaleCheckersOutAndIn,
# about 5 minutes; not part of `make test`) against the test stack's
# PostgreSQL and Redis, which it starts like test.sh does and leaves running.
# Extra arguments go to `go test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/stack.sh" up test
eval "$("$root/scripts/stack.sh" env test)"
export TEST_DATABASE_URL TEST_REDIS_ADDR

cd "$root/e2e"
SCALE_TEST=1 exec go test -count=1 -run '^TestScaleCheckersOutAndIn$' -v -timeout 30m "$@" ./...
