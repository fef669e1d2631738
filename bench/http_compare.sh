#!/usr/bin/env bash
# Side-by-side HTTP comparison, same machine, same run: a warp hello-world, taskboard,
# json-server 1.0 beta and PocketBase 0.40 on the same 10k tasks. Each server is pinned
# to CPU 0 and wrk to CPU 1 (wrk -t1 -c64). Then taskboard's CSV export of 100k tasks.
# Usage: bench/setup_peers.sh && bench/http_compare.sh [SECONDS]
# With BASELINE_BIN=path/to/an/older/taskboard, the taskboard rows run for it too.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-10}"
PEERS=bench/peers
LIST_TB="/api/tasks?status=in_progress&sort=-updated_at&page=5&per_page=50"
table_header

taskset -c 0 target/release/examples/hello_warp 3031 & PIDS+=($!)
wait_http http://127.0.0.1:3031/
LUA= run "warp hello-world: GET /" http://127.0.0.1:3031/
kill "${PIDS[-1]}"

write_config
# taskboard_rows LABEL BINARY PORT: reads by id, the list cached and uncached, and
# durable creates (last, on a copy of the data, so the reads see the same 10k rows).
taskboard_rows() {
  local label=$1 bin=$2 port=$3
  rm -rf "$WORK/data-$port" && cp -r "$WORK/data" "$WORK/data-$port"
  taskset -c 0 "$bin" --config "$WORK/config.yaml" serve --data-dir "$WORK/data-$port" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/api/health"
  LUA=bench/random_task.lua run "$label: GET /api/tasks/{id}" "http://127.0.0.1:$port" ROWS=$ROWS PATH_PREFIX=/api/tasks/
  LUA= run "$label: list, filter, sort, page 5 of 50, total" "http://127.0.0.1:$port$LIST_TB"
  LUA=bench/list_uncached.lua run "$label: the same, every request a new query (no cached selection)" "http://127.0.0.1:$port"
  LUA=bench/post_task.lua run "$label: POST /api/tasks (durable: fsynced before the answer)" "http://127.0.0.1:$port"
  kill "${PIDS[-1]}"
}
taskboard_rows taskboard target/release/taskboard 3032
# BASELINE_BIN=path: the same rows for another build (an earlier commit), same run.
if [ -n "${BASELINE_BIN:-}" ]; then
  taskboard_rows "baseline" "$BASELINE_BIN" 3036
fi

if [ -x $PEERS/node_modules/.bin/json-server ]; then
  (cd "$WORK" && taskset -c 0 node "$OLDPWD/$PEERS/node_modules/.bin/json-server" --port 3033 db.json >/dev/null 2>&1) & PIDS+=($!)
  wait_http http://127.0.0.1:3033/tasks/1
  LUA=bench/random_task.lua run "json-server: GET /tasks/{id}" http://127.0.0.1:3033 ROWS=$ROWS PATH_PREFIX=/tasks/
  LUA= run "json-server: list, filter, sort, page 5 of 50" "http://127.0.0.1:3033/tasks?status=in_progress&_sort=-updated_at&_page=5&_per_page=50"
  pkill -f "json-server --port 3033" || true
else
  echo "| json-server | not installed (bench/setup_peers.sh) | |"
fi

if [ -x $PEERS/venv/bin/pocketbase ]; then
  start_pocketbase 3034
  LUA=bench/random_task.lua run "PocketBase: GET /api/collections/tasks/records/{id}" http://127.0.0.1:3034 \
    IDS_FILE="$WORK/ids.txt" PATH_PREFIX=/api/collections/tasks/records/
  PB_LIST="/api/collections/tasks/records?filter=%28status%3D%27in_progress%27%29&sort=-updated_at&page=5&perPage=50"
  LUA= run "PocketBase: list, filter, sort, page 5 of 50, total" "http://127.0.0.1:3034$PB_LIST"
  LUA= run "PocketBase: the same without the total" "http://127.0.0.1:3034$PB_LIST&skipTotal=1"
  kill "${PIDS[-1]}"
else
  echo "| PocketBase | not installed (bench/setup_peers.sh) | |"
fi

# Export: 100k tasks, streamed; memory of the server before and after.
python3 bench/gen_data.py 100000 "$WORK/big" >/dev/null
cat > "$WORK/big/config.yaml" <<YAML
export:
  max_export_records: 200000
logging:
  file_path: $WORK/logs/big.log
YAML
taskset -c 0 target/release/taskboard --config "$WORK/big/config.yaml" serve --data-dir "$WORK/big/data" --host 127.0.0.1 --port 3035 >/dev/null 2>&1 & PIDS+=($!)
TB=${PIDS[-1]}
wait_http http://127.0.0.1:3035/api/health
rss() { awk '/^VmRSS/ {print $2}' /proc/$TB/status; }
before=$(rss)
curl -s -o /dev/null http://127.0.0.1:3035/api/export/tasks.csv   # warm
result=$(taskset -c 1 curl -s -o /dev/null -w '%{size_download} %{time_total}' http://127.0.0.1:3035/api/export/tasks.csv)
after=$(rss)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$TB/status)
read -r bytes secs <<<"$result"
echo
echo "| export | rows | MB | seconds | MB/s | server RSS before → after, peak (MB) |"
echo "|---|---:|---:|---:|---:|---|"
awk -v b="$bytes" -v s="$secs" -v r0="$before" -v r1="$after" -v h="$hwm" \
  'BEGIN { printf "| GET /api/export/tasks.csv | 100000 | %.1f | %.3f | %.0f | %.0f → %.0f, %.0f |\n", b/1e6, s, b/1e6/s, r0/1024, r1/1024, h/1024 }'
