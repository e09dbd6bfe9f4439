-- wrk script: POST a JSON array of BATCH_SIZE (default 100) copies of bench/event.json per
-- request. The events carry no "id", so each one is accepted as a new event.
-- Usage: EVENT_FILE=bench/event.json BATCH_SIZE=100 wrk -s bench/ingest-batch.lua http://127.0.0.1:PORT/v1/events
local path = os.getenv("EVENT_FILE") or "bench/event.json"
local n = tonumber(os.getenv("BATCH_SIZE") or "100")
local f = assert(io.open(path, "r"), "cannot open " .. path)
local event = f:read("*a"):gsub("%s+$", "")
f:close()

local parts = {}
for i = 1, n do
  parts[i] = event
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "[" .. table.concat(parts, ",") .. "]"
