--[[
  One read of the coordinator's board (lua/publishBoard-4.lua) by another instance, atomic:
  Redis's clock, the log's incarnation, the head whole, and of the partitions' entries only
  what changed since the version the reader holds: nothing when it holds the current one,
  the changed fields when the changes list covers every version since, else every entry.

  Input:
    KEYS[1] the head (hash)   KEYS[2] the partitions' entries (hash)   KEYS[3] the changes (list)
    KEYS[4] the log's incarnation
    ARGV[1] the board id the reader holds ('' none)   ARGV[2] the version it holds
    ARGV[3] fieldsMax: more changed fields than this are read as a whole read
  Output: { TIME seconds, TIME microseconds, incarnation | nil, the head as field/value pairs,
    mode, ... } with mode
    "none" (no board),
    "same" (the reader's version is current),
    "diff", the changed field names, their values (nil: removed),
    "whole", every entry as field/value pairs
]]
local rcall = redis.call
local t = rcall("TIME")
local incarnation = rcall("GET", KEYS[4])
local head = rcall("HGETALL", KEYS[1])
local id, v
for i = 1, #head, 2 do
  if head[i] == "_id" then id = head[i + 1] elseif head[i] == "_v" then v = tonumber(head[i + 1]) end
end
if not id or not v then return { t[1], t[2], incarnation, head, "none" } end
local known = tonumber(ARGV[2]) or 0
if id == ARGV[1] and known == v then return { t[1], t[2], incarnation, head, "same" } end
if id == ARGV[1] and known > 0 and known < v then
  local entries = rcall("LRANGE", KEYS[3], 0, v - known - 1)
  local ok = #entries == v - known
  local names, seen = {}, {}
  local fieldsMax = tonumber(ARGV[3])
  for i = 1, #entries do
    if not ok then break end
    local e = entries[i]
    local cut = string.find(e, "\n", 1, true)
    if not cut or tonumber(string.sub(e, 1, cut - 1)) ~= v - i + 1 then ok = false break end
    local fields = string.sub(e, cut + 1)
    if fields == "*" then ok = false break end
    for f in string.gmatch(fields, "[^\n]+") do
      if not seen[f] then
        seen[f] = true
        names[#names + 1] = f
      end
    end
    if #names > fieldsMax then ok = false end
  end
  if ok then
    local values = {}
    for i = 1, #names, 256 do
      local chunk = rcall("HMGET", KEYS[2], unpack(names, i, math.min(i + 255, #names)))
      for j = 1, #chunk do values[i + j - 1] = chunk[j] end
    end
    return { t[1], t[2], incarnation, head, "diff", names, values }
  end
end
return { t[1], t[2], incarnation, head, "whole", rcall("HGETALL", KEYS[2]) }
