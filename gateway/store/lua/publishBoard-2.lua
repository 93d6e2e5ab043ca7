--[[
  The coordinator's board for the region's other instances (gateway/coordination/): a hash of
  what only the coordinator knows — each partition's write authority from its witness agent,
  each peer's acknowledged seq — written under its token (includes/coordinator.lua), with the
  board's end on Redis's clock ("_end", ms): an instance trusts nothing of it past that end
  (the coordinator died or froze: its entries stop being renewed). "_v" counts changes, so
  a reader fetches the whole board only when it changed.

  Input:
    KEYS[1] the board (hash)   KEYS[2] the coordinator lease
    ARGV[1] the coordinator token ('' = one instance)   ARGV[2] the board's validity from now, ms
    ARGV[3] N = number of changed fields, then N field/value pairs (value '' removes the field)
  Output: the board's version ("_v") | -11 not the coordinator
]]
local rcall = redis.call
--- @include "coordinator"
if coordinatorRefused(KEYS[2], ARGV[1]) then return -11 end
local t = rcall("TIME")
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[3])
local v = tonumber(rcall("HGET", KEYS[1], "_v") or "0")
if n > 0 then
  v = v + 1
  for i = 0, n - 1 do
    local field, value = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
    if value == "" then rcall("HDEL", KEYS[1], field) else rcall("HSET", KEYS[1], field, value) end
  end
end
rcall("HSET", KEYS[1], "_end", nowMs + tonumber(ARGV[2]), "_v", v)
return v
