#!/usr/bin/env bash
# Times each test file as its own `node --test`, $JOBS at a time (default 2, as make test), and
# prints "<file> <seconds>" per file; a file that fails is named on stderr with its log's path.
# Used by `make test-times` to refresh test/durations.json (test/helpers/schedule.ts).
set -uo pipefail
jobs=${JOBS:-2}
logs=${LOGS:-runs/test-times}
mkdir -p "$logs"
one() {
  local f=$1 start rc log
  log="$logs/$(echo "$f" | tr / _).log"
  start=$(date +%s%N)
  node --import tsx --test --test-reporter=spec --test-timeout=300000 "$f" >"$log" 2>&1
  rc=$?
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '%s %d.%03d\n' "$f" $((ms / 1000)) $((ms % 1000))
  [ "$rc" = 0 ] || echo "FAILED: $f (exit $rc; log $log)" >&2
}
export -f one
export logs
node --import tsx test/helpers/schedule.ts | xargs -P "$jobs" -I{} bash -c 'one "$1"' _ {}
