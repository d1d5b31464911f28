-- wrk script: POST /sms/inbound with a unique MessageSid per request, from one of
-- N enrolled participants (phone +1617 2000000+i), no signature
-- (both servers run with validate_signatures = false).
-- Arguments: run prefix, number of participants, body, duplicate share (0..1).
-- inbound_post() is the one builder of an inbound request: mix.lua loads this file
-- with dofile() and reuses it and setup(), replacing init, request and done.
local counter = 0
threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Return a Twilio-shaped inbound POST (no signature) for sid and URL-encoded fields.
function inbound_post(sid, fields)
  local form = "MessageSid=" .. sid .. "&SmsSid=" .. sid
    .. "&AccountSid=ACbench&To=%2B12025550100&NumMedia=0&" .. fields
  return wrk.format("POST", "/sms/inbound",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
end

function init(args)
  prefix = args[1] or "r"
  participants = tonumber(args[2] or "1000")
  body = args[3] or "7"
  dup = tonumber(args[4] or "0")
  n = 0
  math.randomseed(os.time() + tid * 7919)
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  n = n + 1
  local seq = n
  if dup > 0 and n > 1 and math.random() < dup then
    seq = math.random(1, n - 1)
  end
  local sid = string.format("SM%s%02dx%010d", prefix, tid, seq)
  local i = (tid * 1000003 + seq * 7919) % participants
  local phone = string.format("+1617%07d", 2000000 + i)
  return inbound_post(sid, "From=" .. urlencode(phone) .. "&Body=" .. urlencode(body))
end

function done(summary, latency, requests)
  local bad = summary.errors.status
  io.write(string.format("lua: %d requests, %d non-2xx\n", summary.requests, bad))
end
