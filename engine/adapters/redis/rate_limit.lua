-- Cost-weighted sliding-window admission: at most LIMIT cost units admitted in any
-- window of WINDOW_MS milliseconds; a refused request adds nothing. The same steps as
-- engine/domain/ratelimit.py (SlidingWindow.admit), atomic because Redis runs a script
-- to completion, and timed by the Redis server clock so instances need not agree.
-- Needs Redis >= 6.0 (SET ... KEEPTTL).
--
-- KEYS[1]: sorted set of admitted entries, member "<time_us>:<seq>:<cost>", score time_us
-- KEYS[2]: running total of the cost held in KEYS[1]
-- KEYS[3]: sequence counter that keeps members unique
-- ARGV[1]: cost of this request (integer >= 1)
-- ARGV[2]: LIMIT (integer >= 1)
-- ARGV[3]: WINDOW_MS (integer >= 1)
-- Returns {allowed (0|1), total cost in the window after the decision,
--          retry_after_us, reset_us}

local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window_ms = tonumber(ARGV[3])
local window_us = window_ms * 1000

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local horizon = now - window_us

local function cost_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

-- Evict entries that left the window, keeping the running total exact.
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', horizon)
if #old > 0 then
  for _, member in ipairs(old) do
    total = total - cost_of(member)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
end
if total < 0 or redis.call('ZCARD', KEYS[1]) == 0 then
  total = 0
end
if #old > 0 then
  -- Store the evicted total now: a refusal below returns without writing, and a stale
  -- total would keep counting cost that has already left the window.
  redis.call('SET', KEYS[2], total, 'KEEPTTL')
end

local function reset_us()
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last == 0 then return 0 end
  return math.max(0, tonumber(last[2]) + window_us - now)
end

if total + cost <= limit then
  local seq = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[1], now, now .. ':' .. seq .. ':' .. cost)
  total = total + cost
  redis.call('SET', KEYS[2], total)
  redis.call('PEXPIRE', KEYS[1], window_ms + 1000)
  redis.call('PEXPIRE', KEYS[2], window_ms + 1000)
  redis.call('PEXPIRE', KEYS[3], window_ms + 1000)
  return {1, total, 0, reset_us()}
end

-- Refused: how long until enough of the oldest entries leave for COST to fit.
local retry = window_us
if cost <= limit then
  local need = total + cost - limit
  local freed = 0
  local start = 0
  local done = false
  while not done do
    local batch = redis.call('ZRANGE', KEYS[1], start, start + 99, 'WITHSCORES')
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      freed = freed + cost_of(batch[i])
      if freed >= need then
        retry = math.max(0, tonumber(batch[i + 1]) + window_us - now)
        done = true
        break
      end
    end
    start = start + 100
  end
end
return {0, total, retry, reset_us()}
