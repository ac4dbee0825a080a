-- Cost-weighted sliding-window admission of one request over one or more limited keys
-- (a batch spanning tenants asks each tenant's window): every key admits its cost or
-- none does, and a refused request adds nothing anywhere. Per key, at most LIMIT cost
-- units admitted in any window of WINDOW_MS milliseconds. The same steps as
-- engine/skiplock/domain/ratelimit.py (admit_all), atomic because Redis runs a script to
-- completion, and timed by the Redis server clock so instances need not agree.
-- Needs Redis >= 6.0 (SET ... KEEPTTL). The keys of one request may lie in different
-- hash slots, so this is for a single Redis server (or a primary with replicas), not
-- Redis Cluster.
--
-- For the i-th key (i = 1..N):
-- KEYS[3i-2]: sorted set of admitted entries, member "<time_us>:<seq>:<cost>", score time_us
-- KEYS[3i-1]: running total of the cost held in KEYS[3i-2]
-- KEYS[3i]:   sequence counter that keeps members unique
-- ARGV[3i-2]: cost asked of this key (integer >= 1)
-- ARGV[3i-1]: LIMIT (integer >= 1)
-- ARGV[3i]:   WINDOW_MS (integer >= 1)
-- Returns 4 integers per key, in key order: {allowed (0|1), total cost in the window
-- after the decision, retry_after_us (0 where the cost had room), reset_us}

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS / 3

local function cost_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

local function reset_us(log, window_us)
  local last = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  if #last == 0 then return 0 end
  return math.max(0, tonumber(last[2]) + window_us - now)
end

-- Each key first forgets what left its window, keeping its running total exact.
local asks = {}
local fits = true
for i = 1, n do
  local log, sum = KEYS[3 * i - 2], KEYS[3 * i - 1]
  local cost, limit = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local window_ms = tonumber(ARGV[3 * i])
  local window_us = window_ms * 1000
  local total = tonumber(redis.call('GET', sum) or '0')
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - window_us)
  if #old > 0 then
    for _, member in ipairs(old) do
      total = total - cost_of(member)
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window_us)
  end
  if total < 0 or redis.call('ZCARD', log) == 0 then
    total = 0
  end
  if #old > 0 then
    -- Store the evicted total now: a refusal below returns without writing, and a
    -- stale total would keep counting cost that has already left the window.
    redis.call('SET', sum, total, 'KEEPTTL')
  end
  asks[i] = {cost = cost, limit = limit, window_ms = window_ms, window_us = window_us,
             total = total}
  if total + cost > limit then fits = false end
end

local out = {}
if fits then
  for i = 1, n do
    local a = asks[i]
    local log, sum, seq = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    local id = redis.call('INCR', seq)
    redis.call('ZADD', log, now, now .. ':' .. id .. ':' .. a.cost)
    a.total = a.total + a.cost
    redis.call('SET', sum, a.total)
    redis.call('PEXPIRE', log, a.window_ms + 1000)
    redis.call('PEXPIRE', sum, a.window_ms + 1000)
    redis.call('PEXPIRE', seq, a.window_ms + 1000)
    for _, v in ipairs({1, a.total, 0, reset_us(log, a.window_us)}) do out[#out + 1] = v end
  end
  return out
end

-- Refused: per key without room, how long until enough of its oldest entries leave for
-- its cost to fit (a whole window when the cost alone exceeds the limit).
for i = 1, n do
  local a = asks[i]
  local log = KEYS[3 * i - 2]
  local retry = 0
  if a.total + a.cost > a.limit then
    retry = a.window_us
    if a.cost <= a.limit then
      local need = a.total + a.cost - a.limit
      local freed = 0
      local start = 0
      local done = false
      while not done do
        local batch = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
        if #batch == 0 then break end
        for j = 1, #batch, 2 do
          freed = freed + cost_of(batch[j])
          if freed >= need then
            retry = math.max(0, tonumber(batch[j + 1]) + a.window_us - now)
            done = true
            break
          end
        end
        start = start + 100
      end
    end
  end
  for _, v in ipairs({0, a.total, retry, reset_us(log, a.window_us)}) do out[#out + 1] = v end
end
return out
