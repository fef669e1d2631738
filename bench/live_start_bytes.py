#!/usr/bin/env python3
"""The board's first load, in bytes (issue 25): 2,000 tasks made through the API of a
running server (security off), then the full tasks snapshot (what the socket sent
before) beside the cards' projection over GET /api/live/tasks, gzip-compressed.

Usage: taskboard serve --port 5077 --data-dir /tmp/empty-data &
       python3 bench/live_start_bytes.py [http://127.0.0.1:5077]
"""
import gzip
import json
import sys
import urllib.request

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5077"
CARD = "title,status,priority,assigned_to,created_by,due_date"
for n in range(2000):
    body = json.dumps({
        "title": f"Заявка {n}: ремонт техники у клиента",
        "description": "Описание неисправности со слов клиента, адрес, подъезд, этаж, код домофона "
                       "и пожелания по времени визита",
        "priority": ["low", "medium", "high", "critical"][n % 4],
        "due_date": f"2026-12-{n % 28 + 1:02d}",
    }).encode()
    request = urllib.request.Request(base + "/api/tasks", data=body, headers={"content-type": "application/json"})
    urllib.request.urlopen(request).read()
full = urllib.request.urlopen(base + "/api/live/tasks").read()
request = urllib.request.Request(base + f"/api/live/tasks?fields={CARD}", headers={"accept-encoding": "gzip"})
cards_gz = urllib.request.urlopen(request).read()
cards = gzip.decompress(cards_gz)
print(f"every task, every column (as the socket's snapshot): {len(full)} bytes")
print(f"the cards' columns: {len(cards)} bytes, {len(cards_gz)} gzipped ({len(full) / len(cards_gz):.1f}x fewer)")
