#!/usr/bin/env python3
"""Loads records.jsonl into a running PocketBase as a public `tasks` collection and
writes the new record ids to ids.txt. Usage: pocketbase_load.py URL WORK_DIR"""
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

url, work = sys.argv[1], sys.argv[2]

def call(method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", token)
    with urllib.request.urlopen(req) as r:
        return json.load(r)

token = call("POST", "/api/collections/_superusers/auth-with-password",
             {"identity": "bench@example.com", "password": "bench-password-123"})["token"]
text = lambda name: {"name": name, "type": "text"}
number = lambda name: {"name": name, "type": "number"}
call("POST", "/api/collections", {
    "name": "tasks", "type": "base", "listRule": "", "viewRule": "",
    "fields": [number("n"), text("title"), text("description"), text("status"), text("priority"),
               number("assigned_to"), number("created_by"), text("due_date"), text("created_at"), text("updated_at")],
}, token)
records = [json.loads(line) for line in open(f"{work}/records.jsonl")]
with ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(lambda r: call("POST", "/api/collections/tasks/records", r, token)["id"], records))
open(f"{work}/ids.txt", "w").write("\n".join(ids) + "\n")
print(f"loaded {len(ids)} records")
