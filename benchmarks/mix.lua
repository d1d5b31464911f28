-- wrk script: POST /sms/inbound, each request one line of a prepared mix file
-- ("From=...&Body=...", URL-encoded, written by benchmarks/webhook_mix.py) with a
-- unique MessageSid. No signature (every server runs with validate_signatures = false).
-- Arguments: mix file, run prefix (unique per run), first line (0-based), wrk threads.
-- Thread t of T sends lines first + t, first + t + T, ...: every line once, in order,
-- until the file runs out; then it starts again at line 1 (check-in answers to runs
-- that have ended then take the fallback path). done() prints the highest line used.
-- The request itself is built by inbound.lua's inbound_post() (loaded from this
-- script's folder, with its setup()); this file replaces init, request and done.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
dofile(here .. "inbound.lua")

function init(args)
  local path = args[1]
  prefix = args[2] or "r"
  first = tonumber(args[3] or "0")
  nthreads = tonumber(args[4] or "2")
  lines = {}
  for line in io.lines(path) do
    table.insert(lines, line)
  end
  n = 0
end

function request()
  local index = first + tid + nthreads * n
  n = n + 1
  local line = lines[(index % #lines) + 1]
  local sid = string.format("SM%s%02dx%09d", prefix, tid, n)
  return inbound_post(sid, line)
end

function done(summary, latency, requests)
  local used, start = 0, 0
  for _, thread in ipairs(threads) do
    local sent = thread:get("n") or 0
    if sent > used then used = sent end
    start = thread:get("first") or 0
  end
  io.write(string.format("lua: lines used %d, %d non-2xx\n",
    start + used * #threads, summary.errors.status))
end
