-- wrk: the list query with an `updated_since` that differs on every request, so that no
-- two requests share a cached selection (it matches every row, so the answer is the same).
math.randomseed(7)
request = function()
  local us = string.format("%06d", math.random(0, 999999))
  return wrk.format("GET", "/api/tasks?status=in_progress&sort=-updated_at&page=5&per_page=50&updated_since=2026-01-01T00:00:00." .. us .. "Z")
end
