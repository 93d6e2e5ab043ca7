--[[
  Reads full records for the anti-entropy `get` reply, in one call instead of one HMGET
  per key.

  Record key names come in ARGV (built by the caller from its key layout): standalone
  Redis only.

  Input:
    ARGV[1] field count F    ARGV[2 .. 1 + F] field names
    ARGV[2 + F ..] record key names
  Output: F values per record, flattened in the order of the record names (false = absent)
]]
local rcall = redis.call

local f = tonumber(ARGV[1])
local fields = {}
for i = 1, f do fields[i] = ARGV[1 + i] end
local out = {}

for i = 2 + f, #ARGV do
  local row = rcall("HMGET", ARGV[i], unpack(fields))
  for j = 1, f do out[#out + 1] = row[j] end
end
return out
