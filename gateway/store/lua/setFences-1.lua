--[[
  Sets or removes the fences of many partitions in one call, under the coordinator token
  (includes/coordinator.lua): a witness round renews every lease the region holds, and one
  script call per fence cost Redis a call's overhead per partition and queued the commands
  behind them (store/fence-writer.ts batches them). One MSET for the fences set, one DEL for
  those removed: a SET with PXAT per fence cost Redis 2.8 times as much (design-notes). A
  fence needs no expiry of its own: its value carries the lease's absolute end, and a fence
  whose end has passed holds no write (includes/fence.lua); at most one per partition stays.

  Input:
    KEYS[1] the coordinator lease
    then 1 KEYS per fence: the partition's fence
    ARGV[1] the coordinator token ('' = one instance, no check)
    then per fence, in the order of its KEYS: its value "epoch:endMs" (end on Redis's clock),
      or '' to remove it
  Output: the number of fences written | -11 not the coordinator (the lease holds another token)
]]
local rcall = redis.call
--- @include "coordinator"
if coordinatorRefused(KEYS[1], ARGV[1]) then return -11 end
local n = #KEYS - 1
if #ARGV ~= 1 + n then return redis.error_reply("setFences: " .. n .. " fences need " .. (1 + n) .. " ARGV, got " .. #ARGV) end
local sets, dels = {}, {}
for i = 1, n do
  local v = ARGV[i + 1]
  if v == "" then
    dels[#dels + 1] = KEYS[i + 1]
  else
    sets[#sets + 1] = KEYS[i + 1]
    sets[#sets + 1] = v
  end
end
if #sets > 0 then rcall("MSET", unpack(sets)) end
if #dels > 0 then rcall("DEL", unpack(dels)) end
return n
