-- wrk: creates in PocketBase's tasks collection as its superuser (PB_TOKEN), the same
-- small body as post_task.lua.
wrk.method = "POST"
wrk.path = "/api/collections/tasks/records"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("PB_TOKEN")
wrk.body = '{"title": "written by wrk", "priority": "high"}'
