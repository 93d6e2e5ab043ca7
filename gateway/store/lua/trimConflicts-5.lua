--[[
  The age and size bounds of the conflict journal and the dead letters, applied by the
  retention sweep (gateway/merge/retention.ts) between appends: the resolve script applies the
  journal's entry and byte bounds at each append, but an age bound must also act on a journal
  nothing is appended to. Ages are measured on Redis's clock (TIME), the clock stream ids are
  made from.

  Input:
    KEYS[1] conflict journal stream   KEYS[3] journal acknowledged id
    KEYS[2] journal byte count        KEYS[4] dead-letter stream
    KEYS[5] the coordinator lease
    ARGV[1] journal max entries   ARGV[2] journal max bytes   ARGV[3] journal max age, ms
    ARGV[4] dead letters max entries   ARGV[5] dead letters max age, ms
    ARGV[6] journal entries (and dead letters) dropped at most by this call
    ARGV[7] the coordinator token ('' = one instance)
  Output: { journal entries dropped unacknowledged (evictions), journal entries dropped,
            dead letters dropped, 1 when the journal or the dead letters may hold more to drop
            (call again) else 0 }; at most ARGV[6] of each per call | -11 not the coordinator
]]
local rcall = redis.call
--- @include "journal"

--- @include "coordinator"
if coordinatorRefused(KEYS[5], ARGV[7]) then return -11 end
local t = rcall("TIME")
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rounds = tonumber(ARGV[6])
local evicted, dropped = journalTrim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]),
  nowMs - tonumber(ARGV[3]), rounds)
-- dead letters: exact bounds, oldest first, at most `rounds` per call like the journal
local dead = 0
local deadCutoff = nowMs - tonumber(ARGV[5])
local deadMax = tonumber(ARGV[4])
while dead < rounds do
  local first = rcall("XRANGE", KEYS[4], "-", "+", "COUNT", 1)[1]
  if not first then break end
  local old = tonumber(string.match(first[1], "^(%d+)-")) < deadCutoff
  if not old and rcall("XLEN", KEYS[4]) <= deadMax then break end
  rcall("XDEL", KEYS[4], first[1])
  dead = dead + 1
end
local more = 0
if dropped >= rounds or dead >= rounds then more = 1 end
return { evicted, dropped, dead, more }
