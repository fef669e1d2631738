#!/usr/bin/env bash
# The PostgreSQL backend beside the CSV backend (and PocketBase's creates), same machine,
# same run, same 10k tasks: GET by id, the list query, durable POSTs at 64 connections
# (wrk -t1 -c64; each server pinned to CPU 0, wrk to CPU 1; PostgreSQL itself is not
# pinned). Then `taskboard migrate` of 100k tasks into PostgreSQL and back.
# Usage: bench/setup_peers.sh && bench/postgres.sh [SECONDS]
# BENCH_DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test);
# databases tb_bench_* are made afresh on it.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-10}"
SERVER=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
AUTHORITY=${SERVER%/*}
PEERS=bench/peers
LIST_TB="/api/tasks?status=in_progress&sort=-updated_at&page=5&per_page=50"
new_database() {
  psql "$SERVER" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "$AUTHORITY/$1"
}
echo "PostgreSQL $(psql "$SERVER" -tAc 'show server_version'), synchronous_commit=$(psql "$SERVER" -tAc 'show synchronous_commit'), fsync=$(psql "$SERVER" -tAc 'show fsync')"
table_header

# backend_rows LABEL PORT CONFIG DATA: reads by id, the list, then durable creates.
backend_rows() {
  local label=$1 port=$2 config=$3 data=$4
  taskset -c 0 target/release/taskboard --config "$config" serve --data-dir "$data" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$port/api/health"
  LUA=bench/random_task.lua run "$label: GET /api/tasks/{id}" "http://127.0.0.1:$port" ROWS=$ROWS PATH_PREFIX=/api/tasks/
  LUA= run "$label: list, filter, sort, page 5 of 50, total" "http://127.0.0.1:$port$LIST_TB"
  LUA=bench/post_task.lua run "$label: POST /api/tasks (durable)" "http://127.0.0.1:$port"
  kill "${PIDS[-1]}"
  wait "${PIDS[-1]}" 2>/dev/null || true
}

write_config
cp -r "$WORK/data" "$WORK/data-csv"
backend_rows "CSV" 3040 "$WORK/config.yaml" "$WORK/data-csv"

URL=$(new_database tb_bench_rw)
cp "$WORK/config.yaml" "$WORK/pg.yaml"
printf 'db_postgresql:\n  enabled: true\n  url: %s\n' "$URL" >> "$WORK/pg.yaml"
target/release/taskboard --config "$WORK/pg.yaml" migrate --to postgres --data-dir "$WORK/data" >/dev/null
mkdir -p "$WORK/pg-local"
backend_rows "PostgreSQL" 3041 "$WORK/pg.yaml" "$WORK/pg-local"

if [ -x $PEERS/venv/bin/pocketbase ]; then
  start_pocketbase 3044
  PB_TOKEN=$(curl -s -H 'content-type: application/json' -d '{"identity":"bench@example.com","password":"bench-password-123"}' \
    http://127.0.0.1:3044/api/collections/_superusers/auth-with-password | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  LUA=bench/post_pocketbase.lua run "PocketBase: POST a record (SQLite WAL, synchronous=NORMAL)" http://127.0.0.1:3044 PB_TOKEN="$PB_TOKEN"
  kill "${PIDS[-1]}"
else
  echo "| PocketBase | not installed (bench/setup_peers.sh) | |"
fi

# Migration of 100k tasks (plus their events) into an empty database and back.
python3 bench/gen_data.py 100000 "$WORK/big" >/dev/null
URL=$(new_database tb_bench_100k)
printf 'db_postgresql:\n  url: %s\nlogging:\n  file_path: %s/logs/m.log\n' "$URL" "$WORK" > "$WORK/m.yaml"
echo
echo "| migrate 100k tasks | seconds |"
echo "|---|---:|"
t0=$(date +%s.%N)
target/release/taskboard --config "$WORK/m.yaml" migrate --to postgres --data-dir "$WORK/big/data" >/dev/null
t1=$(date +%s.%N)
target/release/taskboard --config "$WORK/m.yaml" migrate --to csv --data-dir "$WORK/back" >/dev/null
t2=$(date +%s.%N)
printf '| CSV folder → PostgreSQL (copy, read back, checksums) | %.2f |\n' "$(echo "$t1 - $t0" | bc)"
printf '| PostgreSQL → CSV folder (write, read back, checksums) | %.2f |\n' "$(echo "$t2 - $t1" | bc)"
cmp -s "$WORK/big/data/tasks.csv" "$WORK/back/tasks.csv" && echo "tasks.csv came back byte for byte" || echo "tasks.csv differs after the round trip"
psql "$SERVER" -qc "DROP DATABASE IF EXISTS tb_bench_100k WITH (FORCE)" -c "DROP DATABASE IF EXISTS tb_bench_rw WITH (FORCE)" >/dev/null
