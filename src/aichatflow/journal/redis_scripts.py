"""The Lua scripts of the Redis journal (``redis_journal.py``): one round trip each.

Every script touches the keys of one run only (``KEYS``: its stream ``s``, its info hash ``i``,
its lease ``l``), which share the run's ``{<stream_id>}`` hash tag and so one Redis Cluster
slot. An entry's id is ``0-<position of its first event>``: ids grow with positions, so finding
the entry that holds a position is one ``XREVRANGE ... COUNT 1`` (O(log n)), and the position
need not be stored again in the entry's fields (``n``: how many events, ``d``: the bytes, ``t``
only on the terminal entry).

A missing info hash means the run is gone (forgotten, or a run that outlived the longest a run
may last): appends and the end refuse it rather than recreate keys nothing would expire.
"""

from __future__ import annotations

APPEND_MANY = """
-- KEYS: s, i, l. ARGV: maxlen, length, bytes, lease ms, stream ttl ms (0: keep the stream's
-- expiry), then (first, count, data) for each entry. Returns 1 to go on, 0 when a stop was
-- asked or the run is gone. One entry or all those the producer wrote since its last round
-- trip (``relay.py``): one round trip either way.
local stop = redis.call('HGET', KEYS[2], 'stop')
if not stop then return 0 end
for i = 6, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. ARGV[i],
             'n', ARGV[i + 1], 'd', ARGV[i + 2])
end
redis.call('HSET', KEYS[2], 'length', ARGV[2], 'bytes', ARGV[3])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
if ARGV[5] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
if stop == '1' then return 0 end
return 1
"""

BEAT = """
-- KEYS: i, l. ARGV: lease ms. Returns 1 to go on, 0 when a stop was asked or the run is gone.
local stop = redis.call('HGET', KEYS[1], 'stop')
if not stop then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
if stop == '1' then return 0 end
return 1
"""

END = """
-- KEYS: s, i, l. ARGV: first, count, data, maxlen, length, bytes, stream ttl ms, info ttl ms.
-- Returns 0 when the run is gone (nothing written), 1 otherwise.
if not redis.call('HGET', KEYS[2], 'stop') then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '0-' .. ARGV[1],
           'n', ARGV[2], 'd', ARGV[3], 't', '1')
redis.call('HSET', KEYS[2], 'length', ARGV[5], 'bytes', ARGV[6], 'state', 'ended')
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('DEL', KEYS[3])
return 1
"""

LOCATE = """
-- KEYS: s, i, l. ARGV: after (the last position the reader has).
-- Returns {code, cursor, lease pttl}: code 0 unknown run, 1 entries gone, 2 read entries after
-- id 0-<cursor> (the first of them holds position after + 1, or is yet to come), 3 the run
-- ended at or before ``after``: nothing to read.
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return {0, 0, -2} end
local want = tonumber(ARGV[1]) + 1
if state ~= 'live' and want > tonumber(redis.call('HGET', KEYS[2], 'length'))
   and redis.call('EXISTS', KEYS[1]) == 1 then return {3, 0, -2} end
local hit = redis.call('XREVRANGE', KEYS[1], '0-' .. want, '-', 'COUNT', 1)
local pttl = redis.call('PTTL', KEYS[3])
if hit[1] then
  local first = tonumber(string.match(hit[1][1], '%-(%d+)$'))
  local count = tonumber(hit[1][2][2])
  if first + count - 1 >= want then return {2, first - 1, pttl} end
  return {2, want - 1, pttl}
end
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if oldest[1] or state ~= 'live' then return {1, 0, pttl} end
return {2, want - 1, pttl}
"""

STOP = """
-- KEYS: i. Returns 1 when the live run will be asked to stop, 0 when it is not live.
if redis.call('HGET', KEYS[1], 'state') ~= 'live' then return 0 end
redis.call('HSET', KEYS[1], 'stop', '1')
return 1
"""

KEEP = """
-- KEYS: s, i. ARGV: keep ms, the bound on a cached answer's bytes, info ttl ms.
-- Keeps a finished run's entries at least ``keep ms`` (its info that plus the tombstone time);
-- returns 0 (nothing done) when it is not ended, its entries are gone or it is too large.
if redis.call('HGET', KEYS[2], 'state') ~= 'ended' then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0') > tonumber(ARGV[2]) then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'GT')
redis.call('PEXPIRE', KEYS[2], ARGV[3], 'GT')
return 1
"""

SWAP = """
-- KEYS: one key. ARGV: expected value, new value (empty: delete), ttl ms.
-- Replaces (or deletes) the key's value only if it is still the expected one.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""

__all__ = [
    "APPEND_MANY",
    "BEAT",
    "END",
    "KEEP",
    "LOCATE",
    "STOP",
    "SWAP",
]
