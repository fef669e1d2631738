-- wrk: durable creates, POST /api/tasks with a small JSON body; each is acknowledged
-- only after its batch is fsynced in events.csv.
wrk.method = "POST"
wrk.path = "/api/tasks"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "written by wrk", "priority": "high"}'
