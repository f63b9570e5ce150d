#!/bin/sh
# Entry point of every LendSimple image: start each process with an empty Prometheus multiprocess
# directory (stale files of a previous run would be summed into /metrics), then run the command.
set -eu
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi
exec "$@"
