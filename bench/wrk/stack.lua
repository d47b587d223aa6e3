-- wrk script of bench/stack.py: POST requests drawn at random from a prepared list and
-- check every response.
-- Environment: BENCH_REQUESTS_FILE  three lines per request: the prefix its correct
--                                   response starts with, the Authorization header
--                                   ("-" for none), the JSON body (one line)
-- A response is bad when its status is not 200, it contains "errors", or it does not
-- start with one of the list's prefixes (an operation's root field and first selection).
-- done() prints one JSON line prefixed "WRKJSON ", and the first bad response of each
-- thread prefixed "WRKBAD ".
local lines = {}
for line in io.lines(os.getenv("BENCH_REQUESTS_FILE")) do
  table.insert(lines, line)
end

-- Formatted in init(): wrk knows the Host header only then (Node servers refuse an
-- HTTP/1.1 request without one).
local function format_entries()
  local entries = {}
  for i = 1, #lines - 2, 3 do
    local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
    if lines[i + 1] ~= "-" then
      headers["Authorization"] = lines[i + 1]
    end
    table.insert(entries, {
      prefix = lines[i],
      request = wrk.format("POST", nil, headers, lines[i + 2]),
    })
  end
  return entries
end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- wrk's response() does not say which request it answers (many connections share a
-- thread), so a response must start with the prefix of one of the list's operations.
function init(args)
  math.randomseed(os.time() * 1000 + id)
  checked, bad_status, with_errors, bad_shape = 0, 0, 0, 0
  first_bad = ""
  entries = format_entries()
  prefixes = {}
  for _, e in ipairs(entries) do
    prefixes[e.prefix] = true
  end
end

function request()
  return entries[math.random(#entries)].request
end

local function known_prefix(body)
  for prefix in pairs(prefixes) do
    if string.sub(body, 1, #prefix) == prefix then
      return true
    end
  end
  return false
end

function response(status, headers, body)
  checked = checked + 1
  local bad = true
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif string.find(body, '"errors"', 1, true) then
    with_errors = with_errors + 1
  elseif not known_prefix(body) then
    bad_shape = bad_shape + 1
  else
    bad = false
  end
  if bad and first_bad == "" then
    first_bad = status .. " " .. string.sub(body, 1, 300)
  end
end

function done(summary, latency, requests)
  local c, s, e, b = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    s = s + t:get("bad_status")
    e = e + t:get("with_errors")
    b = b + t:get("bad_shape")
  end
  for _, t in ipairs(threads) do
    if t:get("first_bad") ~= "" then
      io.write("WRKBAD " .. t:get("first_bad") .. "\n")
    end
  end
  local err = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, ' ..
    '"timeouts": %d, "checked": %d, "bad_status": %d, "with_errors": %d, "bad_shape": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "lat_max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    err.connect, err.read, err.write, err.status, err.timeout, c, s, e, b,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
