-- wrk script: POST the TestQuery (closed loop) and check every response.
-- Environment: BENCH_BODY_FILE   JSON request body to send
--              BENCH_EXPECT_LEN  exact byte length of the correct response body
-- A response counts as bad when its status is not 200, it contains "errors", or its
-- length differs from the correct one. done() prints one JSON line prefixed "WRKJSON ".
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

local expect_len = tonumber(os.getenv("BENCH_EXPECT_LEN") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  checked, bad_status, with_errors, bad_length = 0, 0, 0, 0
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif string.find(body, '"errors"', 1, true) then
    with_errors = with_errors + 1
  elseif expect_len > 0 and #body ~= expect_len then
    bad_length = bad_length + 1
  end
end

function done(summary, latency, requests)
  local c, s, e, l = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    s = s + t:get("bad_status")
    e = e + t:get("with_errors")
    l = l + t:get("bad_length")
  end
  local err = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, ' ..
    '"timeouts": %d, "checked": %d, "bad_status": %d, "with_errors": %d, "bad_length": %d, ' ..
    '"lat_mean_us": %.1f, "lat_max_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"p999_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    err.connect, err.read, err.write, err.status, err.timeout, c, s, e, l,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
