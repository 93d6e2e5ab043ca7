--[[
  The coordinator's board for the region's other instances (gateway/coordination/board.ts),
  written under its token (includes/coordinator.lua). Three keys:
  - the head (a small hash, read whole at every read): "_id" the board's id (new at every
    whole publication), "_v" the version of the partitions' entries, "_end" the board's end on
    Redis's clock (ms: an instance trusts nothing of the board past it), and the coordinator's
    fields that move often: "l" the lease end of the last renewal round (every partition
    entry that says so ends its lease there), "h" the seq floor, "a:<peer>" the acks;
  - the partitions' entries (a hash "p:<ks>:<p>" -> entry), changed only when a partition's
    authority changes; every change raises "_v";
  - the changes (a list, newest first, at most changesMax): per version "<v>\n<field>\n..."
    or "<v>\n*" (a whole publication, or more than changeFieldsMax fields), so a reader
    fetches only the fields that changed since the version it holds.
  A publication is either whole (expectedVersion 0: head and entries replace the old ones) or the
  changes since the version this coordinator wrote last under boardId: when the board is not
  that one (another coordinator wrote, Redis lost or rolled back writes) it is refused (-12)
  and the coordinator publishes the board whole again. "Not that one" includes a head that
  lost a publication of head fields only (which does not move "_v"): the head's "_p" counts the
  publications under the board id, and a publication of changes names the count it wrote last.

  Input:
    KEYS[1] the head (hash)   KEYS[2] the partitions' entries (hash)   KEYS[3] the changes (list)
    KEYS[4] the coordinator lease
    ARGV[1] the coordinator token ('' = one instance)   ARGV[2] the board's validity from now, ms
    ARGV[3] the board id   ARGV[4] the version this coordinator wrote last (0: publish whole)
    ARGV[5] H = changed head fields   ARGV[6] N = changed partition entries
    ARGV[7] changesMax   ARGV[8] changeFieldsMax
    ARGV[9] the head's publication count ("_p") this coordinator wrote last (ignored when whole)
    then H field/value pairs of the head, then N field/value pairs of the entries (value ''
    removes the field)
  Output: { the board's version ("_v"), the publication count ("_p") } | -11 not the coordinator
    | -12 not the board expected
]]
local rcall = redis.call
--- @include "coordinator"
if coordinatorRefused(KEYS[4], ARGV[1]) then return -11 end
local t = rcall("TIME")
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = rcall("HMGET", KEYS[1], "_id", "_v", "_p")
local v = tonumber(cur[2] or "0") or 0
local expected = tonumber(ARGV[4])
local whole = expected == 0
local pubs = tonumber(cur[3] or "0") or 0
if not whole and (cur[1] ~= ARGV[3] or v ~= expected or pubs ~= tonumber(ARGV[9])) then return -12 end
if whole then pubs = 0 end
local h, n = tonumber(ARGV[5]), tonumber(ARGV[6])
local changesMax, fieldsMax = tonumber(ARGV[7]), tonumber(ARGV[8])
local at = 10
if whole then
  -- nothing of another coordinator's board stays (its acks, its round's end)
  rcall("DEL", KEYS[1], KEYS[2])
end
for _ = 1, h do
  local field, value = ARGV[at], ARGV[at + 1]
  if value == "" then rcall("HDEL", KEYS[1], field) else rcall("HSET", KEYS[1], field, value) end
  at = at + 2
end
if whole then
  v = v + 1
  for _ = 1, n do
    if ARGV[at + 1] ~= "" then rcall("HSET", KEYS[2], ARGV[at], ARGV[at + 1]) end
    at = at + 2
  end
  rcall("HSET", KEYS[1], "_id", ARGV[3])
  rcall("LPUSH", KEYS[3], v .. "\n*")
  rcall("LTRIM", KEYS[3], 0, changesMax - 1)
elseif n > 0 then
  v = v + 1
  local names = {}
  for i = 1, n do
    local field, value = ARGV[at], ARGV[at + 1]
    if value == "" then rcall("HDEL", KEYS[2], field) else rcall("HSET", KEYS[2], field, value) end
    names[i] = field
    at = at + 2
  end
  if n > fieldsMax then rcall("LPUSH", KEYS[3], v .. "\n*") else rcall("LPUSH", KEYS[3], v .. "\n" .. table.concat(names, "\n")) end
  rcall("LTRIM", KEYS[3], 0, changesMax - 1)
end
rcall("HSET", KEYS[1], "_end", nowMs + tonumber(ARGV[2]), "_v", v, "_p", pubs + 1)
return { v, pubs + 1 }
