"""The Lua scripts of the Redis storage: each admission, release and lease renewal is one.

Redis runs a script alone, start to end, so an admission's checks and takes are atomic across
every instance sharing the Redis: no instance can slip in between another's check and its take.
Every script reads the time from Redis (``TIME``), never from the instance, so instances whose
clocks disagree still agree about windows and leases.

Each limit is a sorted set:

* ``s`` (stream slots): member the admission's id, score the end of its lease; a slot whose
  lease ended is dropped by the next admission, so a dead instance's slots free themselves;
* ``r`` (requests in the sliding window): member the admission's id, score its time;
* ``t`` (tokens in the sliding window): member ``<id>:<tokens>``, score its time; beside it,
  ``<key>sum`` holds their total, so an admission reads one number and visits only the
  entries that just left the window (and walks the window only to say how long a refused
  request must wait).

The script answers, per check, what was used before this admission and when the window would
be empty without it; numbers with fractions come back as text, since Redis would cut a Lua
number to an integer.
"""

from __future__ import annotations

ADMIT = """
-- KEYS[i]: the sorted set of check i
-- ARGV: id, lease, tokens, window, then kind and limit of each check
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local id, lease = ARGV[1], tonumber(ARGV[2])
local tokens, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local function tokens_of(member) return tonumber(string.match(member, ':(%d+)$')) end
local refused, wait = 0, 0
local used, reset = {}, {}
for i = 1, #KEYS do
  local key, kind, limit = KEYS[i], ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
  local over, waiting, n, r = false, 0, 0, 0
  if kind == 's' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    n = redis.call('ZCARD', key)
    over, waiting = n >= limit, 1
  elseif kind == 'r' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    n = redis.call('ZCARD', key)
    if n > 0 then
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      r = tonumber(last[2]) + window - now
    end
    if n >= limit then
      over = true
      local nth = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
      waiting = tonumber(nth[2]) + window - now
    end
  else
    local sum_key = key .. 'sum'
    n = tonumber(redis.call('GET', sum_key) or '0')
    if redis.call('EXISTS', key) == 0 then n = 0 end
    local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - window)
    if #expired > 0 then
      for j = 1, #expired do n = n - tokens_of(expired[j]) end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
      redis.call('SET', sum_key, n, 'KEEPTTL')
    end
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if #last > 0 then r = tonumber(last[2]) + window - now end
    if n + tokens > limit then
      over, waiting = true, window
      local excess = n + tokens - limit
      local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        excess = excess - tokens_of(entries[j])
        if excess <= 0 then
          waiting = tonumber(entries[j + 1]) + window - now
          break
        end
      end
    end
  end
  if over and refused == 0 then refused, wait = i, waiting end
  used[i], reset[i] = n, r
end
if refused == 0 then
  local window_ms = math.ceil(window * 1000) + 1000
  for i = 1, #KEYS do
    local key, kind = KEYS[i], ARGV[3 + 2 * i]
    if kind == 's' then
      redis.call('ZADD', key, now + lease, id)
      redis.call('PEXPIRE', key, math.ceil(lease * 1000) + 1000)
    elseif kind == 'r' then
      redis.call('ZADD', key, now, id)
      redis.call('PEXPIRE', key, window_ms)
    elseif tokens > 0 then
      redis.call('ZADD', key, now, id .. ':' .. ARGV[3])
      redis.call('INCRBY', key .. 'sum', tokens)
      redis.call('PEXPIRE', key, window_ms)
      redis.call('PEXPIRE', key .. 'sum', window_ms)
    end
  end
end
local out = {refused, string.format('%.6f', wait)}
for i = 1, #KEYS do
  out[#out + 1] = used[i]
  out[#out + 1] = string.format('%.6f', reset[i])
end
return out
"""

RELEASE = """
-- KEYS: the slot sets, then the token set when ARGV[3] (tokens used) is not empty
-- ARGV: id, tokens reserved, tokens used or '', window
local id, reserved, used = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local slots = #KEYS
if used ~= '' then slots = slots - 1 end
for i = 1, slots do redis.call('ZREM', KEYS[i], id) end
if used ~= '' then
  local key = KEYS[#KEYS]
  local sum_key = key .. 'sum'
  if reserved > 0 and redis.call('ZREM', key, id .. ':' .. ARGV[2]) == 1 then
    redis.call('DECRBY', sum_key, reserved)
  end
  if tonumber(used) > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local window_ms = math.ceil(tonumber(ARGV[4]) * 1000) + 1000
    redis.call('ZADD', key, now, id .. ':' .. used)
    redis.call('INCRBY', sum_key, used)
    redis.call('PEXPIRE', key, window_ms)
    redis.call('PEXPIRE', sum_key, window_ms)
  end
end
return 1
"""

RENEW = """
-- KEYS[i]: a slot set; ARGV[1]: the lease; ARGV[i + 1]: the slot held in KEYS[i]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease * 1000) + 1000)
end
return #KEYS
"""

__all__ = ["ADMIT", "RELEASE", "RENEW"]
