--[[
  A write of shared state the coordinator makes outside the other scripts (the owners it
  learnt from the witness), under its token (includes/coordinator.lua). The fences have a
  batch script of their own (setFences-1.lua).

  Input:
    KEYS[1] the key written   KEYS[2] the coordinator lease
    ARGV[1] the coordinator token ('' = one instance, no check)
    ARGV[2] hset
    ARGV[3] field   ARGV[4] value
  Output: 1 | -11 not the coordinator (the lease holds another token)
]]
local rcall = redis.call
--- @include "coordinator"
if coordinatorRefused(KEYS[2], ARGV[1]) then return -11 end
if ARGV[2] == "hset" then
  rcall("HSET", KEYS[1], ARGV[3], ARGV[4])
else
  return redis.error_reply("coordinatorWrite: unknown op " .. ARGV[2])
end
return 1
