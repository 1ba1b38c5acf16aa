-- wrk script for benchmarks.translate: POSTs the JSON bodies of a file (one body per line) in turn.
--
--   wrk -t1 -c1 -d10s --latency -s benchmarks/translate.lua http://127.0.0.1:PORT/v1/translate -- BODIES [AUTH]
--
-- Every request is formatted once, in init; request() only hands out the next one, so a file of one
-- body (the cached path, the baselines) and a file of thousands (the store path) cost wrk the same.
-- AUTH, when given, is sent as the Authorization header ("Bearer tm_..."). No response() hook (it
-- would make wrk hand every answer to Lua): wrk's own summary counts non-2xx answers.

local requests = {}
local count = 0
local next_index = 1

function init(args)
  local path = args[1]
  if path == nil then
    error("translate.lua needs the bodies file: wrk ... -s translate.lua URL -- BODIES")
  end
  local headers = {["Content-Type"] = "application/json"}
  if args[2] ~= nil and #args[2] > 0 then
    headers["Authorization"] = args[2]
  end
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      requests[count] = wrk.format("POST", nil, headers, line)
    end
  end
  if count == 0 then
    error("no bodies in " .. path)
  end
end

function request()
  local r = requests[next_index]
  next_index = next_index % count + 1
  return r
end
