-- wrk script: replay a recorded mix of subgraph requests against the bench subgraphs
-- directly (to show their own rate). BENCH_MIX_FILE is a Lua file returning a list of
-- {path = "/reviews", body = "..."}; each entry is sent in turn, round robin.
-- BENCH_HOST is the Host header (wrk.host is not known yet when this file is loaded).
local mix = dofile(os.getenv("BENCH_MIX_FILE"))
local prepared = {}
for _, r in ipairs(mix) do
  table.insert(prepared, wrk.format("POST", r.path, {
    ["Host"] = os.getenv("BENCH_HOST"),
    ["Content-Type"] = "application/json",
  }, r.body))
end
local i = 0

function request()
  i = i % #prepared + 1
  return prepared[i]
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bad": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, b, latency:percentile(50), latency:percentile(99)))
end
