#!/usr/bin/env bash
# A filter on a team's own column beside a filter on a documented one (issue: custom
# fields), same server, same run: the 10k tasks of gen_data.py with a declared enum
# column `techtype` added (four values, as `priority` has four), then
# GET /api/tasks?priority=high&per_page=50 and GET /api/tasks?techtype=washer&per_page=50,
# each matching a quarter of the tasks. Server on CPU 0, wrk on CPU 1 (wrk -t1 -c64).
# Usage: bench/custom_filter.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-10}"
table_header

python3 - "$WORK/data/tasks.csv" <<'PY'
import csv, sys
path = sys.argv[1]
rows = list(csv.reader(open(path, newline="")))
kinds = ["washer", "fridge", "oven", "dryer"]
rows[0].append("techtype")
for i, row in enumerate(rows[1:], start=1):
    row.append(kinds[(i + 2) % 4])  # shifted, so that no row matches both filters by accident of order
csv.writer(open(path, "w", newline=""), lineterminator="\n").writerows(rows)
PY
cat > "$WORK/config.yaml" <<YAML
performance:
  worker_processes: 1
logging:
  file_path: $WORK/logs/task_system.log
tasks:
  fields:
    - {name: techtype, type: enum, values: [washer, fridge, oven, dryer]}
YAML
taskset -c 0 target/release/taskboard --config "$WORK/config.yaml" serve --data-dir "$WORK/data" --host 127.0.0.1 --port 3043 >/dev/null 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:3043/api/health
for round in 1 2; do
  LUA= run "round $round, documented: GET /api/tasks?priority=high&per_page=50" "http://127.0.0.1:3043/api/tasks?priority=high&per_page=50"
  LUA= run "round $round, custom: GET /api/tasks?techtype=washer&per_page=50" "http://127.0.0.1:3043/api/tasks?techtype=washer&per_page=50"
done
