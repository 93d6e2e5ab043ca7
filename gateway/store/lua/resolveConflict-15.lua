--[[
  Writes the resolution of one pending conflict as a new local version that dominates both
  sides, removes the pending incoming version, appends the change to the replication log
  (so every region converges on it) and journals the conflict — all at once, so a conflict
  is resolved and journaled exactly once. Compare-and-set on the current version: if the
  record changed since the resolver read it, nothing is written (-5) and the caller retries.

  Input:
    KEYS[1] record hash       KEYS[6] partition bucket digests
    KEYS[2] replication log   KEYS[7] bucket members
    KEYS[3] log seq counter   KEYS[8] the key's pending-conflict hash
    KEYS[4] log byte count    KEYS[9] pending-conflict index
    KEYS[5] region HLC        KEYS[10] conflict journal stream
                              KEYS[11] compensation action outbox stream
    ARGV[1] region   ARGV[2] now (wall ms)   ARGV[3] value   ARGV[4] content type
    ARGV[5] tombstone (1|0)   ARGV[6] expected current version ('' = absent)
    ARGV[7] pending incoming version   ARGV[8] resolved version (dominates both)
    ARGV[9] highest HLC of the two sides   ARGV[10] epoch
    ARGV[11] log max entries   ARGV[12] log max bytes   ARGV[13] keyspace   ARGV[14] key
    ARGV[15] partition   ARGV[16] bucket   ARGV[17] journal max entries
    ARGV[18] J = number of journal items, ARGV[19 .. 18+J] journal entry as field, value pairs,
    then each remaining ARGV is one compensation action (JSON) for the outbox
  Output: { version, seq, hlc } | -5 current version changed | -6 pending entry gone
]]
local rcall = redis.call
--- @include "vv"
--- @include "hlc"
--- @include "merkle"
--- @include "log"

local cur = rcall("HMGET", KEYS[1], "vv", "h")
if (cur[1] or "") ~= ARGV[6] then return -5 end
if rcall("HEXISTS", KEYS[8], "m:" .. ARGV[7]) == 0 then return -6 end

local cw, cl = hlcParse(cur[2] or nil)
local iw, il = hlcParse(ARGV[9])
cw, cl = hlcMax(cw, cl, iw, il)
local w, l = hlcTick(KEYS[5], cw, cl, tonumber(ARGV[2]))
local hlcText = hlcFormat(w, l)
local vvText = ARGV[8]
local value = ARGV[3]
if ARGV[5] == "1" then value = "" end

rcall("HSET", KEYS[1], "v", value, "ct", ARGV[4], "vv", vvText, "h", hlcText, "o", ARGV[1],
  "e", ARGV[10], "t", ARGV[5], "p", ARGV[15], "b", ARGV[16])
local seq = logAppend(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[11]), tonumber(ARGV[12]),
  ARGV[13], ARGV[14], ARGV[15], ARGV[16], value, ARGV[4], vvText, hlcText, ARGV[1], ARGV[10], ARGV[5])
merkleUpdate(KEYS[6], KEYS[7], ARGV[16], ARGV[14], cur[1] or nil, vvText)

rcall("HDEL", KEYS[8], "m:" .. ARGV[7], "v:" .. ARGV[7])
if rcall("EXISTS", KEYS[8]) == 0 then rcall("SREM", KEYS[9], ARGV[13] .. "\0" .. ARGV[14]) end

local journal = { "XADD", KEYS[10], "MAXLEN", "~", ARGV[17], "*" }
local j = tonumber(ARGV[18])
for i = 19, 18 + j do journal[#journal + 1] = ARGV[i] end
journal[#journal + 1] = "resolvedVersion"
journal[#journal + 1] = vvText
if j > 0 then rcall(unpack(journal)) end
for i = 19 + j, #ARGV do rcall("XADD", KEYS[11], "MAXLEN", "~", 100000, "*", "action", ARGV[i]) end
return { vvText, seq, hlcText }
