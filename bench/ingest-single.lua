-- wrk script: POST one EventBridge-shaped event (bench/event.json, ~340 bytes, no "id",
-- so every request is a new event) per request.
-- Usage: EVENT_FILE=bench/event.json wrk -s bench/ingest-single.lua http://127.0.0.1:PORT/v1/events
local path = os.getenv("EVENT_FILE") or "bench/event.json"
local f = assert(io.open(path, "r"), "cannot open " .. path)
local event = f:read("*a"):gsub("%s+$", "")
f:close()

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = event
