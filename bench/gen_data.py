#!/usr/bin/env python3
"""Writes the same N tasks (and 100 users) for every server in the HTTP comparison:
taskboard's data/tasks.csv and data/users.csv, json-server's db.json, and
records.jsonl for PocketBase. Usage: gen_data.py N OUT_DIR"""
import csv, json, os, sys

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(os.path.join(out, "data"), exist_ok=True)
statuses = ["new", "in_progress", "done", "cancelled"]
priorities = ["low", "medium", "high", "critical"]
users = [{"id": i, "username": f"user{i}", "telegram_id": "", "role": "member",
          "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z", "is_active": "true"}
         for i in range(1, 101)]
tasks = []
for i in range(1, n + 1):
    tasks.append({
        "id": i,
        "title": f"Task number {i} about the quarterly plan",
        "description": "Prepare the figures, check them with finance and write the summary; attach the "
                       f"spreadsheet and the notes from the meeting so that the team can review item {i}",
        "status": statuses[i % 4], "priority": priorities[i % 4],
        "assigned_to": 1 + i % 100, "created_by": 1 + (i * 7) % 100,
        "due_date": f"2026-12-{1 + i % 28:02d}",
        "created_at": "2026-11-01T09:00:00Z",
        "updated_at": f"2026-11-{1 + i % 21:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
    })
for name, rows in (("users.csv", users), ("tasks.csv", tasks)):
    with open(os.path.join(out, "data", name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
# json-server keys records by string ids.
with open(os.path.join(out, "db.json"), "w") as f:
    json.dump({"tasks": [dict(t, id=str(t["id"])) for t in tasks]}, f)
with open(os.path.join(out, "records.jsonl"), "w") as f:
    for t in tasks:
        f.write(json.dumps({k: v for k, v in t.items() if k != "id"} | {"n": t["id"]}) + "\n")
