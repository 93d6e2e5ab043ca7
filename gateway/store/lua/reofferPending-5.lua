--[[
  Offers a key's pending versions again: appends each one that has been pending (or was last
  offered) at least ARGV[2] ms ago to this region's replication log, as it is, so the
  partition's resolving region receives it once more. A region that may not resolve holds a
  pending version only until the resolution arrives; if the resolving region lost it meanwhile
  (its Redis wiped, or rolled back, before it resolved), this copy is the only one left, and
  anti-entropy compares current versions only. A receiver that has it already drops it
  (equal, dominated, or covered by a pending version); otherwise it becomes pending there and
  is resolved. Values never leave Redis. The record, its Merkle leaf and the pending hash are
  not changed, except the "ro" (last offered at) member of each offered version's metadata.

  Input:
    KEYS[1] the key's pending hash   KEYS[3] log seq counter
    KEYS[2] replication log          KEYS[4] log byte count
    KEYS[5] the coordinator lease
    ARGV[1] now (wall ms)   ARGV[2] offer after (ms)   ARGV[3] log max entries   ARGV[4] log max bytes
    ARGV[5] keyspace   ARGV[6] key   ARGV[7] the coordinator token ('' = one instance)
    ARGV[8] the lowest log seq the store must hold: the highest one the caller saw it hand out ('' = no check)
  Output: the seqs appended (possibly none) | -11 not the coordinator
    | -7 the store's log seq is below ARGV[8] (it came back with older data: the next seqs
      would be ones already handed out; includes/seq-floor.lua), nothing appended
]]
local rcall = redis.call
--- @include "coordinator"
--- @include "log"
--- @include "seq-floor"

if coordinatorRefused(KEYS[5], ARGV[7]) then return -11 end
if seqBelowFloor(KEYS[3], ARGV[8]) then return -7 end
local now, after = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for _, f in ipairs(rcall("HKEYS", KEYS[1])) do
  if string.sub(f, 1, 2) == "m:" then
    local vvText = string.sub(f, 3)
    local meta = cjson.decode(rcall("HGET", KEYS[1], f))
    local since = tonumber(meta.ro or meta.a or 0) or 0
    if now - since >= after then
      local value = rcall("HGET", KEYS[1], "v:" .. vvText) or ""
      out[#out + 1] = logAppend(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6],
        meta.p, meta.b, value, meta.ct, vvText, meta.h, meta.o, meta.e, meta.t, nil, meta.x)
      meta.ro = now
      rcall("HSET", KEYS[1], f, cjson.encode(meta))
    end
  end
end
return out
