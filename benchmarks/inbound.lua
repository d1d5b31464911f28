-- wrk script: POST /sms/inbound with a unique MessageSid per request, from one of
-- N enrolled participants (phone +1617 2000000+i), no signature
-- (both servers run with validate_signatures = false).
-- Arguments: run prefix, number of participants, body, duplicate share (0..1).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
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
  local form = "MessageSid=" .. sid .. "&SmsSid=" .. sid .. "&AccountSid=ACbench&From="
    .. urlencode(phone) .. "&To=%2B12025550100&Body=" .. urlencode(body) .. "&NumMedia=0"
  return wrk.format("POST", "/sms/inbound",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
end

function done(summary, latency, requests)
  local bad = summary.errors.status
  io.write(string.format("lua: %d requests, %d non-2xx\n", summary.requests, bad))
end
