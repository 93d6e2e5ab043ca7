--[[
  Drops replication-log entries every peer has acknowledged (seq <= ARGV[1]), keeping the
  log's byte count exact. Bounded work per call: at most ARGV[2] entries.

  Input:
    KEYS[1] replication log    KEYS[2] log byte count
    ARGV[1] acknowledged-through seq    ARGV[2] max entries to drop in this call
  Output: number of entries dropped
]]
local rcall = redis.call
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
