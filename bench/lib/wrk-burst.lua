-- wrk's script for the service benchmark (see wrk.ts): each request is POST PATH with
-- {"vm":"name=<PREFIX><k>,<VM>"} and a name never sent before (one wrk thread, one counter).
-- At the end it prints one JSON line: requests, measured microseconds, latency p50/p99 (µs), the
-- error counts (status: answers outside 2xx/3xx) and wrk's own CPU time (os.clock: the process's).
local counter = 0
local prefix = os.getenv("WRK_PREFIX")
local vm = os.getenv("WRK_VM")
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.headers["authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
wrk.headers["content-type"] = "application/json"

request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"vm":"name=' .. prefix .. counter .. ',' .. vm .. '"}')
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"cpuSeconds":%.6f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, os.clock()))
end
