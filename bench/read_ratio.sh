#!/usr/bin/env bash
# GET /api/tasks/{id} beside a warp hello-world, alternated: ROUNDS rounds of (hello,
# taskboard[, baseline]) with all servers up at once, each pinned to CPU 0 and wrk to
# CPU 1 (wrk -t1 -c64), so that a slow minute of the machine hits every server alike.
# Prints each round and the median ratio. Default logging (the access line is on).
# Usage: [BASELINE_BIN=path/to/an/older/taskboard] bench/read_ratio.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-6}"
ROUNDS=${2:-5}
write_config
taskset -c 0 target/release/examples/hello_warp 3041 & PIDS+=($!)
wait_http http://127.0.0.1:3041/
start_taskboard() { # BINARY PORT
  rm -rf "$WORK/data-$2" && cp -r "$WORK/data" "$WORK/data-$2"
  taskset -c 0 "$1" --config "$WORK/config.yaml" serve --data-dir "$WORK/data-$2" --host 127.0.0.1 --port "$2" >/dev/null 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$2/api/health"
}
start_taskboard target/release/taskboard 3042
[ -n "${BASELINE_BIN:-}" ] && start_taskboard "$BASELINE_BIN" 3043
rps() { # NAME URL [LUA]
  LUA=${3:-} run "$1" "$2" ROWS=$ROWS PATH_PREFIX=/api/tasks/ | awk -F'|' '{gsub(/ /, "", $3); print $3}'
}
echo "machine: $(nproc) cores; wrk -t1 -c64 -d${SECS}s per measurement, servers on CPU 0, wrk on CPU 1"
echo
echo "| round | hello-world req/s | taskboard GET /api/tasks/{id} | ratio |${BASELINE_BIN:+ baseline | ratio |}"
echo "|---:|---:|---:|---:|${BASELINE_BIN:+---:|---:|}"
ratios=(); base_ratios=()
for round in $(seq 1 "$ROUNDS"); do
  hello=$(rps hello http://127.0.0.1:3041/)
  tb=$(rps taskboard http://127.0.0.1:3042 bench/random_task.lua)
  ratio=$(awk -v a="$tb" -v b="$hello" 'BEGIN {printf "%.2f", a / b}')
  ratios+=("$ratio")
  line="| $round | $hello | $tb | $ratio |"
  if [ -n "${BASELINE_BIN:-}" ]; then
    base=$(rps baseline http://127.0.0.1:3043 bench/random_task.lua)
    base_ratio=$(awk -v a="$base" -v b="$hello" 'BEGIN {printf "%.2f", a / b}')
    base_ratios+=("$base_ratio")
    line="$line $base | $base_ratio |"
  fi
  echo "$line"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "median ratio: taskboard $(median "${ratios[@]}")${BASELINE_BIN:+, baseline $(median "${base_ratios[@]}")}"
