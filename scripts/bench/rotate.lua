-- payhook bench: wrk script that POSTs pre-signed events, rotating through the file given after `--`.
-- Records are `<Stripe-Signature>\n<byte length>\n<body>\n` (scripts/bench/events.ts). Requests are formatted
-- once in init, so the client spends its time sending, not building. At the end it prints one line,
-- `BENCH_JSON {...}`, with the counts and latency percentiles the harness reads.

local requests = {}
local index = 0
sent = 0

local function load(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local list = {}
  local pos = 1
  while pos <= #data do
    local header_end = data:find("\n", pos, true)
    local header = data:sub(pos, header_end - 1)
    local length_end = data:find("\n", header_end + 1, true)
    local length = tonumber(data:sub(header_end + 1, length_end - 1))
    local body = data:sub(length_end + 1, length_end + length)
    pos = length_end + length + 2
    list[#list + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json; charset=utf-8",
      ["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      ["Stripe-Signature"] = header,
    }, body)
  end
  return list
end

function init(args)
  requests = load(args[1])
end

function request()
  index = index % #requests + 1
  sent = sent + 1
  return requests[index]
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, _)
  local total_sent = 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"sent":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, total_sent, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
