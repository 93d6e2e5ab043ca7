--[[
  Reads full records for the anti-entropy `get` reply, in one call instead of one HMGET
  per key.

  The record hashes come in KEYS (the caller's key layout; all of one partition: one slot).

  Input:
    then 1 KEYS per record, from KEYS[1]: its record hash
    ARGV[1] field count F    ARGV[2 .. 1 + F] field names
  Output: F values per record, flattened in the order of the record names (false = absent)
]]
local rcall = redis.call

local f = tonumber(ARGV[1])
local fields = {}
for i = 1, f do fields[i] = ARGV[1 + i] end
local out = {}

for i = 1, #KEYS do
  local row = rcall("HMGET", KEYS[i], unpack(fields))
  for j = 1, f do out[#out + 1] = row[j] end
end
return out
