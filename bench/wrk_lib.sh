# Shared by the HTTP benchmarks, sourced from the project's root with the run's length in
# seconds: builds the release binaries, writes the same ROWS tasks into a temporary WORK
# folder (removed at exit, with every server in PIDS stopped), and offers wait_http, run
# (wrk pinned to CPU 1 against a server pinned to CPU 0) and table_header.

SECS=${1:-10}
ROWS=10000
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

cargo build --release -q --bin taskboard --example hello_warp
python3 bench/gen_data.py $ROWS "$WORK" >/dev/null

wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# run NAME URL [VAR=value...]: wrk with the script $LUA (if set) and the extra
# arguments in the array WRK_EXTRA (if set), VAR=value in its environment (for the
# script); prints "| NAME | req/s | p99 |".
run() {
  local name=$1 url=$2; shift 2
  local out rps p99
  out=$(env "$@" taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency ${LUA:+-s "$LUA"} ${WRK_EXTRA[@]+"${WRK_EXTRA[@]}"} "$url")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '| %s | %.0f | %s |\n' "$name" "$rps" "$p99"
}

table_header() {
  echo "machine: $(nproc) cores, $(uname -r); wrk -t1 -c64 -d${SECS}s, server on CPU 0, wrk on CPU 1"
  echo
  echo "| server and request | req/s | p99 |"
  echo "|---|---:|---:|"
}

# The taskboard configuration of the HTTP benchmarks: one worker (the server has CPU 0
# to itself), default logging into the run's folder.
write_config() {
  cat > "$WORK/config.yaml" <<YAML
performance:
  worker_processes: 1
logging:
  file_path: $WORK/logs/task_system.log
YAML
}

# start_pocketbase PORT: PocketBase (from bench/setup_peers.sh) on PORT, pinned to CPU 0,
# with the same ROWS tasks loaded as a public collection (their ids in $WORK/ids.txt).
start_pocketbase() {
  local port=$1 pb=bench/peers/venv/bin/pocketbase
  $pb superuser upsert bench@example.com bench-password-123 --dir "$WORK/pb" >/dev/null
  taskset -c 0 $pb serve --http "127.0.0.1:$port" --dir "$WORK/pb" >/dev/null 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/api/health"
  python3 bench/pocketbase_load.py "http://127.0.0.1:$port" "$WORK" >&2
}
