#!/usr/bin/env bash
# What security costs on the hot path, same machine, same run: a warp hello-world, then
# taskboard's GET /api/tasks/{id} with security off, and with security on (a bearer
# token checked, its session looked up, its user re-read and the request counted on
# every request), and with the same user's API key (hashed and looked up on every
# request). Each server is pinned to CPU 0 and wrk to CPU 1 (wrk -t1 -c64).
# Usage: bench/http_security.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/wrk_lib.sh "${1:-10}"
table_header

taskset -c 0 target/release/examples/hello_warp 3041 & PIDS+=($!)
wait_http http://127.0.0.1:3041/
LUA= run "warp hello-world: GET /" http://127.0.0.1:3041/
kill "${PIDS[-1]}"

for security in false true; do
  cat > "$WORK/config.yaml" <<YAML
security:
  enabled: $security
  validation_method: password
  rate_limiting:
    requests_per_minute: 100000000
performance:
  worker_processes: 1
logging:
  file_path: $WORK/logs/task_system.log
YAML
  export SECRET_KEY=bench-secret-0123456789abcdef
  if [ "$security" = true ]; then
    # The generated users.csv has user 1; give it a password (the server is not running).
    printf 'Bench-Passw0rd!\n' | target/release/taskboard --config "$WORK/config.yaml" user passwd "$(awk -F, 'NR==2 {print $2}' "$WORK/data/users.csv")" --data-dir "$WORK/data" >/dev/null
  fi
  taskset -c 0 target/release/taskboard --config "$WORK/config.yaml" serve --data-dir "$WORK/data" --host 127.0.0.1 --port 3042 >/dev/null 2>&1 & PIDS+=($!)
  wait_http http://127.0.0.1:3042/api/health
  if [ "$security" = true ]; then
    user=$(awk -F, 'NR==2 {print $2}' "$WORK/data/users.csv")
    token=$(curl -s http://127.0.0.1:3042/api/auth/login -H 'content-type: application/json' \
      -d "{\"username\":\"$user\",\"password\":\"Bench-Passw0rd!\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
    WRK_EXTRA=(-H "Authorization: Bearer $token")
    LUA=bench/random_task.lua run "taskboard, security on (bearer token): GET /api/tasks/{id}" http://127.0.0.1:3042 ROWS=$ROWS PATH_PREFIX=/api/tasks/
    # The same user's API key, same server, same run (issue: API keys).
    expires=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
    key=$(curl -s http://127.0.0.1:3042/api/keys -H "Authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"name\":\"bench\",\"scope\":\"read\",\"expires_at\":\"$expires\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["key"])')
    WRK_EXTRA=(-H "Authorization: Bearer $key")
    LUA=bench/random_task.lua run "taskboard, security on (API key): GET /api/tasks/{id}" http://127.0.0.1:3042 ROWS=$ROWS PATH_PREFIX=/api/tasks/
    unset WRK_EXTRA
  else
    LUA=bench/random_task.lua run "taskboard, security off: GET /api/tasks/{id}" http://127.0.0.1:3042 ROWS=$ROWS PATH_PREFIX=/api/tasks/
  fi
  kill "${PIDS[-1]}"
  wait "${PIDS[-1]}" 2>/dev/null || true
done
