#!/usr/bin/env bash
# Every test suite, against the real PostgreSQL and RabbitMQ. The five package suites run in two
# lanes at once (each suite has its own test database and its own RabbitMQ vhost, so they cannot see
# each other's rows or messages); the root suites (end to end, reliability, deploy) start the whole
# stack and run after them. Each suite's output goes to .run/test-logs/<suite>.log and is printed
# when it ends. Exits non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
LOGS="$ROOT/.run/test-logs"
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.rc

ctl() { timeout 60 rabbitmqctl -q "$@"; }   # never hang the run on a busy broker

vhost() {  # a fresh vhost per suite: no queue or message left over from an earlier run
  for _ in 1 2 3; do
    ctl delete_vhost "$1" >/dev/null 2>&1
    ctl add_vhost "$1" >/dev/null 2>&1 && ctl set_permissions -p "$1" guest ".*" ".*" ".*" >/dev/null && return 0
    sleep 5
  done
  echo "could not create the RabbitMQ vhost $1" >&2
}

run_suite() {  # run_suite <dir>
  local dir=$1 name=${1//\//_}
  local vh="lendsimple_test_${name}"
  vhost "$vh"
  local start=$(date +%s)
  (cd "$dir" && LENDSIMPLE_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/$vh" "$PY" -m pytest -q -p no:randomly) \
    >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$LOGS/$name.rc"
  echo "=== $dir: exit $rc in $(( $(date +%s) - start ))s"
  tail -n 400 "$LOGS/$name.log" | grep -E "^(FAILED|ERROR) |[0-9]+ (passed|failed|error)" || true
}

lane() { for suite in "$@"; do run_suite "$suite"; done; }

start=$(date +%s)
lane libs/common services/accrual-worker services/borrowers &
lane_a=$!
lane services/loans services/payments &
lane_b=$!
wait $lane_a $lane_b
if [ -d tests ]; then run_suite tests; fi

failed=""
for rc in "$LOGS"/*.rc; do
  read -r code secs <"$rc"
  suite=$(basename "$rc" .rc)
  if [ "$code" != 0 ]; then failed="$failed $suite"; fi
done
echo
echo "--- full output of each suite: $LOGS/<suite>.log"
for log in "$LOGS"/*.log; do
  suite=$(basename "$log" .log)
  read -r code secs <"$LOGS/$suite.rc"
  if [ "$code" != 0 ]; then echo "===== $suite (failed) — last 150 lines"; tail -n 150 "$log"; fi
done
echo
for rc in "$LOGS"/*.rc; do read -r code secs <"$rc"; printf '%-28s exit %s  %5ss\n' "$(basename "$rc" .rc)" "$code" "$secs"; done
echo "all suites took $(( $(date +%s) - start ))s"
total_passed=$(cat "$LOGS"/*.log | grep -hoE "[0-9]+ passed" | awk '{s+=$1} END {print s+0}')
total_failed=$(cat "$LOGS"/*.log | grep -hoE "[0-9]+ failed" | awk '{s+=$1} END {print s+0}')
echo "$total_passed passed, $total_failed failed"
if [ -n "$failed" ]; then echo "FAILED:$failed"; exit 1; fi
