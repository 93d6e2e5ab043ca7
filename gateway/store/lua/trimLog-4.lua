--[[
  Drops replication-log entries every peer has acknowledged (seq <= ARGV[1]), keeping the
  log's byte count exact. Bounded work per call: at most ARGV[2] entries.

  The cursors come from the log the caller knows (its incarnation): when the store lost its
  data, the log restarted from seq 1 under no or another incarnation, and trimming through
  an old cursor would drop new entries before they were shipped — refused (-7).

  Input:
    KEYS[1] replication log    KEYS[2] log byte count    KEYS[3] log incarnation    KEYS[4] the coordinator lease
    ARGV[1] acknowledged-through seq    ARGV[2] max entries to drop in this call
    ARGV[3] the caller's log incarnation ('' = no check)   ARGV[4] the coordinator token ('' = one instance)
  Output: number of entries dropped | -7 the log is not the caller's | -11 not the coordinator
]]
local rcall = redis.call
--- @include "coordinator"
if coordinatorRefused(KEYS[4], ARGV[4]) then return -11 end
if ARGV[3] ~= "" and rcall("GET", KEYS[3]) ~= ARGV[3] then return -7 end
local entries = rcall("XRANGE", KEYS[1], "-", ARGV[1] .. "-0", "COUNT", tonumber(ARGV[2]))
local bytes = 0
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == "sz" then bytes = bytes + tonumber(fields[i + 1]) end
  end
  rcall("XDEL", KEYS[1], entry[1])
end
if bytes > 0 then rcall("DECRBY", KEYS[2], bytes) end
return #entries
