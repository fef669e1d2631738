-- wrk: GET a random task by id; PATH_PREFIX and ROWS come from the environment.
local prefix = os.getenv("PATH_PREFIX") or "/api/tasks/"
local rows = tonumber(os.getenv("ROWS") or "10000")
local ids = os.getenv("IDS_FILE")
local list = nil
if ids then
  list = {}
  for line in io.lines(ids) do list[#list + 1] = line end
end
math.randomseed(42)
request = function()
  local id
  if list then id = list[math.random(1, #list)] else id = math.random(1, rows) end
  return wrk.format("GET", prefix .. id)
end
