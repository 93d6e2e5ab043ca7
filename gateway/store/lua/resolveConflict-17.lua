--[[
  Writes the resolution of one pending conflict as a new local version that dominates both
  sides, removes the pending incoming version, appends the change to the replication log
  (so every region converges on it) and journals the conflict — all at once, so a conflict
  is resolved and journaled exactly once. Compare-and-set on the current version: if the
  record changed since the resolver read it, nothing is written (-5) and the caller retries.
  On a fenced partition (ARGV[21] = 1) the store's fence must hold for the resolver's epoch
  and lease, exactly as for a write (putRecord-12.lua); else nothing is written (-3).

  The new version carries its winner's write stamp (ARGV[9] hlc, ARGV[20] origin), never
  the time of resolution: lww against later versions is decided by when the writes were
  made. The time of resolution is a tick of the partition's HLC, returned and journaled.

  Input:
    KEYS[1] record hash       KEYS[6] partition bucket digests   KEYS[11] action outbox stream
    KEYS[2] replication log   KEYS[7] bucket members             KEYS[12] the partition's pending index
    KEYS[3] log seq counter   KEYS[8] the key's pending hash     KEYS[13] the partition's fence
    KEYS[4] log byte count    KEYS[9] pending-conflict index     KEYS[14] journal byte count
    KEYS[5] partition HLC     KEYS[10] conflict journal stream   KEYS[15] journal acknowledged id
                                                                 KEYS[16] the partition's expiry index
    KEYS[17] the region's coordinator lease
    ARGV[1] region   ARGV[2] now (wall ms)   ARGV[3] value   ARGV[4] content type
    ARGV[5] tombstone (1|0)   ARGV[6] expected current version ('' = absent)
    ARGV[7] pending incoming version   ARGV[8] resolved version (dominates both)
    ARGV[9] the winner's write stamp (hlc)   ARGV[10] epoch
    ARGV[11] log max entries   ARGV[12] log max bytes   ARGV[13] keyspace   ARGV[14] key
    ARGV[15] partition   ARGV[16] bucket   ARGV[17] journal max entries   ARGV[18] journal max bytes
    ARGV[19] outbox max entries   ARGV[20] the winner's origin   ARGV[21] fence required (1|0)
    ARGV[22] the resolver's epoch (fence)   ARGV[23] the resolver's lease end on Redis's clock, ms ('' = none)
    ARGV[24] highest HLC of the two sides   ARGV[25] the winner's expiry, wall ms ('' = none)
    ARGV[26] the coordinator token ('' = one instance)
    ARGV[27] the lowest log seq the store must hold: the highest one the resolver saw it hand out ('' = no check)
    ARGV[28] J = number of journal items, ARGV[29 .. 28+J] journal entry as field, value pairs,
    then each remaining ARGV is one compensation action (JSON) for the outbox
  Output: { version, seq, resolvedHlc, journal entries evicted unacknowledged, outbox entries evicted }
    | -3 fenced | -5 current version changed | -6 pending entry gone | -11 not the coordinator
    | -7 the store's log seq is below ARGV[27] (it came back with older data: the next seq
      would be one already handed out; includes/seq-floor.lua)
]]
local rcall = redis.call
--- @include "vv"
--- @include "hlc"
--- @include "merkle"
--- @include "log"
--- @include "fence"
--- @include "journal"
--- @include "expiry"
--- @include "coordinator"
--- @include "seq-floor"

if coordinatorRefused(KEYS[17], ARGV[26]) then return -11 end
if seqBelowFloor(KEYS[3], ARGV[27]) then return -7 end
if ARGV[21] == "1" and not fenceHolds(KEYS[13], ARGV[22], tonumber(ARGV[23])) then return -3 end
local cur = rcall("HMGET", KEYS[1], "vv", "h", "x")
if (cur[1] or "") ~= ARGV[6] then return -5 end
if rcall("HEXISTS", KEYS[8], "m:" .. ARGV[7]) == 0 then return -6 end

-- the time of resolution: the partition's clock, above both sides
local fw, fl = hlcParse(ARGV[24])
local rw, rl = hlcTick(KEYS[5], fw, fl, tonumber(ARGV[2]))
local resolvedHlc = hlcFormat(rw, rl)
local hlcText, origin = ARGV[9], ARGV[20]
local vvText = ARGV[8]
local value = ARGV[3]
-- a tombstone's value is empty, but an expiry tombstone's: the vector of the version it expired
if ARGV[5] == "1" and ARGV[4] ~= "application/vnd.geogate.expired" then value = "" end

rcall("HSET", KEYS[1], "v", value, "ct", ARGV[4], "vv", vvText, "h", hlcText, "o", origin,
  "e", ARGV[10], "t", ARGV[5], "p", ARGV[15], "b", ARGV[16], "x", ARGV[25])
local seq = logAppend(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[11]), tonumber(ARGV[12]),
  ARGV[13], ARGV[14], ARGV[15], ARGV[16], value, ARGV[4], vvText, hlcText, origin, ARGV[10], ARGV[5], nil, ARGV[25])
merkleUpdate(KEYS[6], KEYS[7], ARGV[16], ARGV[14], cur[1] or nil, vvText)
expiryIndex(KEYS[16], ARGV[14], cur[3], ARGV[25])

rcall("HDEL", KEYS[8], "m:" .. ARGV[7], "v:" .. ARGV[7])
if rcall("EXISTS", KEYS[8]) == 0 then
  rcall("SREM", KEYS[9], ARGV[13] .. "\0" .. ARGV[14])
  rcall("SREM", KEYS[12], ARGV[14])
end

local evicted = 0
local j = tonumber(ARGV[28])
if j > 0 then
  local journal = { "XADD", KEYS[10], "*" }
  local sz = 64
  for i = 29, 28 + j do
    journal[#journal + 1] = ARGV[i]
    sz = sz + #ARGV[i]
  end
  journal[#journal + 1] = "resolvedVersion"
  journal[#journal + 1] = vvText
  journal[#journal + 1] = "resolvedHlc"
  journal[#journal + 1] = resolvedHlc
  sz = sz + #vvText + #resolvedHlc + 64
  journal[#journal + 1] = "sz"
  journal[#journal + 1] = tostring(sz)
  rcall(unpack(journal))
  rcall("INCRBY", KEYS[14], sz)
  evicted = journalTrim(KEYS[10], KEYS[14], KEYS[15], tonumber(ARGV[17]), tonumber(ARGV[18]))
end
local outboxEvicted = 0
for i = 29 + j, #ARGV do rcall("XADD", KEYS[11], "*", "action", ARGV[i]) end
if 29 + j <= #ARGV then outboxEvicted = rcall("XTRIM", KEYS[11], "MAXLEN", tonumber(ARGV[19])) end
return { vvText, seq, resolvedHlc, evicted, outboxEvicted }
