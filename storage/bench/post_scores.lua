-- wrk script: POST /api/scores with bearer tokens read from a file (one per
-- line, made by run.sh), a random score per request. Used by run.sh.
local tokens = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(id * 7919)
end

local i = 0
function request()
  i = i + 1
  local t = tokens[(i * 31 + id * 17) % #tokens + 1]
  local body = string.format('{"game":"bench","score":%d}', math.random(0, 1000000))
  return wrk.format("POST", "/api/scores",
    { ["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json" }, body)
end
