#!/usr/bin/env bash
# schemathesis against the release build with security off: every operation of
# /api/openapi.json fuzzed, with every check (tests/schemathesis/schemathesis.toml
# lists the few exceptions and why). Installs its pinned schemathesis into
# target/schemathesis-venv. Usage: tests/schemathesis/run.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${1:-25}"
version=4.32.5

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
cargo build --release --quiet

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config.yaml" <<YAML
storage:
  data_dir: $work/data
backup:
  dir: $work/backups
  keep_last: 100000   # no retention: a backup named earlier in a run stays verifiable
server:
  host: 127.0.0.1
  port: $port
security:
  rate_limiting:
    requests_per_minute: 100000000
YAML
./target/release/taskboard --config "$work/config.yaml" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# A fixed seed: the same cases every run, so a red CI is a finding, not luck.
status=0
"$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml run \
  "http://127.0.0.1:$port/api/openapi.json" \
  --checks all --max-examples "$examples" --seed "${SCHEMATHESIS_SEED:-20261201}" --no-color || status=$?
if [ $status -ne 0 ]; then
  echo "--- server log (last 40 lines)"
  tail -40 "$work/server.log"
fi
exit $status
