#!/usr/bin/env bash
# What the access line costs a single-record read: GET /api/tasks/{id} with the
# default logging (an access line per request) and with logging.level: WARNING (none),
# alternated twice in one run; the server on CPU 0, wrk on CPU 1.
# Usage: bench/access_log_cost.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-6}"
table_header
for round in 1 2; do
  for level in INFO WARNING; do
    printf 'logging:\n  level: %s\n  file_path: %s/logs/task_system.log\nperformance:\n  worker_processes: 1\n' "$level" "$WORK" > "$WORK/config.yaml"
    taskset -c 0 target/release/taskboard --config "$WORK/config.yaml" serve --data-dir "$WORK/data" --host 127.0.0.1 --port 3037 >/dev/null 2>&1 & PIDS+=($!)
    wait_http http://127.0.0.1:3037/api/health
    LUA=bench/random_task.lua run "round $round, logging.level $level: GET /api/tasks/{id}" http://127.0.0.1:3037 ROWS=$ROWS PATH_PREFIX=/api/tasks/
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
  done
done
