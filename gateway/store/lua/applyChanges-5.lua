--[[
  Applies one batch of changes received from another region's log, atomically, with the
  exactly-once bookkeeping in the same call: records at or below the last applied seq of
  (origin, incarnation) are skipped; the last applied seq is advanced with the batch.
  Per record the version vectors decide: apply (incoming dominates, or key absent), drop
  (dominated or equal), or conflict (concurrent): the incoming version is kept durably in the
  key's pending-conflict hash for the resolver (fields "m:<version>" = JSON metadata, "a" =
  pending since (ARGV[3]), and "v:<version>" = value bytes), listed in the pending index and
  in its partition's pending index (the resolver reads only partitions it may
  resolve). A concurrent version that a pending one dominates or equals is dropped
  (2); one that dominates pending versions supersedes them (they are in its history): the
  pending versions of a key stay an antichain, so lww is decided by the newest writes only.

  One call applies the changes of a GROUP of partitions (the caller decides the grouping,
  script-keys.ts `callGroups`: every partition of a batch in one call on one Redis, one call
  per slot on a cluster); every key it touches is in KEYS, each partition's under its hash tag
  (gateway/store/keys.ts). The seqs applied are kept per partition ("origin|incarnation" ->
  the highest seq of the origin's log applied in this partition): a batch split in several
  calls that stopped half way is received again from the region-wide cursor the caller raises
  after the last call (raiseApplied-1.lua), and each partition skips what it applied already.
  A call that holds the whole batch raises the cursor itself (ARGV[8], KEYS[5]) in the same
  atomic step: then no partition's own seq is written (the cursor covers them all), and a
  change is a duplicate at or below the higher of the cursor and its partition's seq.

  With an empty origin (ARGV[1] = '') the batch comes from anti-entropy or a restore, not
  from a log: no seq bookkeeping, every record goes through the version comparison.

  A change with an idempotency trailer (a write that carried an Idempotency-Key, packed.lua)
  has its outcome remembered here as the write script remembers it at the origin
  (includes/idempotency.lua: the record's item key "idempotency", indexed in KEYS[2]),
  whatever the version comparison decided (applied, dominated or pending: the origin took the
  write and answered that version), for ARGV[4] ms from the write's stamp, unless the key is
  remembered here already (a request this region took itself keeps its own outcome). At
  ARGV[5] outcomes remembered the outcome is NOT remembered — the apply never fails nor stalls
  for it — and counted (KEYS[3], and the last element of the output); a retry here is then
  refused with idempotency_full while the cap holds.

  Input:
    KEYS[1] the region's pending-conflict index (set of "ks\0key")
    KEYS[2] the region's index of remembered outcomes   KEYS[3] count of outcomes not remembered
    KEYS[4] the region's coordinator lease (includes/coordinator.lua)
    KEYS[5] the region's applied seqs (hash "origin|incarnation" -> seq: the resume cursor)
    then per group g, in order: 5 KEYS of its partition: its applied seqs (hash
      "origin|incarnation" -> seq), its HLC, its pending index (set of keys), its bucket
      digests, its expiry index (includes/expiry.lua); then 4 KEYS per change of the group:
      its record hash, its bucket's members, its pending-conflict hash, its remembered outcome
      (the record hash again without a trailer)
    ARGV[1] origin    ARGV[2] incarnation    ARGV[3] now (wall ms)
    ARGV[4] how long an outcome is remembered, ms    ARGV[5] at most this many remembered
    ARGV[6] the coordinator token ('' = one instance)
    ARGV[7] group count G
    ARGV[8] raise the resume cursor (KEYS[5]) to this seq after the groups (0 = leave it)
    then per group: its change count n, then its n packed changes (packed.lua: seq, keyspace,
      key, partition, bucket, value, content type, version, hlc, origin, epoch, tombstone[,
      idempotency key, fingerprint, created][, expiry]), one argument each, all of the
      group's partition; the expiry is stored as the record's "x" (and in a pending
      version's metadata), "" without one

  Output: one code per record, the groups in order: 0 duplicate, 1 applied, 2 dominated/equal
    (by the record or by a pending version), 3 conflict (pending); then the number of
    idempotency outcomes of the batch not remembered (the cap) | -11 not the coordinator
    (nothing applied)
]]
local rcall = redis.call
--- @include "vv"
--- @include "hlc"
--- @include "merkle"
--- @include "packed"
--- @include "idempotency"
--- @include "expiry"
--- @include "coordinator"
if coordinatorRefused(KEYS[4], ARGV[6]) then return -11 end

local origin = ARGV[1]
local appliedField = origin .. "|" .. ARGV[2]
local fromLog = origin ~= ""
local now = tonumber(ARGV[3])
local groups = tonumber(ARGV[7])
local idemTtl, idemMax, idemIndex = tonumber(ARGV[4]), tonumber(ARGV[5]), KEYS[2]
local pendingIndex = KEYS[1]
local unremembered = 0
local out = {}
local raiseTo = tonumber(ARGV[8])
-- the region's cursor: what every partition of the origin's log applied already
local cursor = 0
if fromLog then cursor = tonumber(rcall("HGET", KEYS[5], appliedField) or "0") end
-- no pending conflict in the region: none in any partition (one SCARD, not one per partition)
local regionPending = rcall("SCARD", pendingIndex) > 0

-- Drops the pending versions `vv` dominates or equals; true when the key has none left.
local function clearDominatedPending(ks, key, pendKey, partPending, vv)
  local fields = rcall("HKEYS", pendKey)
  if #fields == 0 then return true end
  for _, f in ipairs(fields) do
    if string.sub(f, 1, 2) == "m:" then
      local pv = string.sub(f, 3)
      local c = vvCompare(vv, vvParse(pv))
      if c == "after" or c == "equal" then rcall("HDEL", pendKey, f, "v:" .. pv) end
    end
  end
  if rcall("EXISTS", pendKey) == 0 then
    rcall("SREM", pendingIndex, ks .. "\0" .. key)
    rcall("SREM", partPending, key)
    return true
  end
  return false
end

-- True when a pending version of the key dominates or equals `vv` (it carries more).
local function pendingCovers(pendKey, vv)
  for _, f in ipairs(rcall("HKEYS", pendKey)) do
    if string.sub(f, 1, 2) == "m:" then
      local c = vvCompare(vv, vvParse(string.sub(f, 3)))
      if c == "before" or c == "equal" then return true end
    end
  end
  return false
end

-- Applies the n changes of one partition, its changes at ARGV[a + 1 ..] and its item KEYS
-- from KEYS[k + 1]; the partition's KEYS are KEYS[k - 4 .. k].
local function applyGroup(k, a, n)
  local partApplied, hlcKey, partPending, digestKey, expiryKey = KEYS[k - 4], KEYS[k - 3], KEYS[k - 2], KEYS[k - 1], KEYS[k]
  local applied = 0
  if fromLog then applied = math.max(cursor, tonumber(rcall("HGET", partApplied, appliedField) or "0")) end
  local applied0 = applied
  local maxW, maxL = 0, 0
  local merkle = {}
  -- most batches meet no pending conflict at all: look for them only when some exist
  local anyPending = regionPending and rcall("SCARD", partPending) > 0
  for i = 0, n - 1 do
    local seq, ks, key, p, bucket, value, ct, vvText, hlcText, o, e, t, ik, fp, cr, x = unpackChange(ARGV[a + 1 + i])
    local recKey, membersKey, pendKey, outcomeKey = KEYS[k + 1 + 4 * i], KEYS[k + 2 + 4 * i], KEYS[k + 3 + 4 * i], KEYS[k + 4 + 4 * i]
    if fromLog and seq <= applied then
      out[#out + 1] = 0
    else
      if fromLog then applied = seq end
      -- remembered until the origin forgets it: from the write's own stamp (its wall time), not
      -- from this apply, which may come long after (a cut, a catch-up); one already past is not kept
      local idemLeft = 0
      if ik then idemLeft = (tonumber(string.match(hlcText, "^(%d+)")) or now) + idemTtl - now end
      if ik and idemLeft > 0 then
        if rcall("EXISTS", outcomeKey) == 0 then
          if idemRoom(idemIndex, now, idemMax) then
            -- q = 0: the seq is the origin's, not of this region's log (nothing to wait for here)
            idemRemember(outcomeKey, idemIndex, ik, now, idemLeft,
              { "f", fp, "v", vvText, "q", 0, "h", hlcText, "c", cr, "t", t, "e", e })
          else
            unremembered = unremembered + 1
          end
        end
      end
      local curState = rcall("HMGET", recKey, "vv", "x")
      local curVv = curState[1]
      local order = "after"
      if curVv then order = vvCompare(vvParse(vvText), vvParse(curVv)) end
      if order == "after" then
        rcall("HSET", recKey, "v", value, "ct", ct, "vv", vvText, "h", hlcText, "o", o, "e", e,
          "t", t, "p", p, "b", bucket, "x", x)
        expiryIndex(expiryKey, key, curState[2], x)
        merkleAccumulate(merkle, digestKey, membersKey, bucket, key, curVv or nil, vvText)
        if anyPending then clearDominatedPending(ks, key, pendKey, partPending, vvParse(vvText)) end
        out[#out + 1] = 1
      elseif order == "concurrent" and anyPending and pendingCovers(pendKey, vvParse(vvText)) then
        out[#out + 1] = 2
      elseif order == "concurrent" then
        if anyPending then clearDominatedPending(ks, key, pendKey, partPending, vvParse(vvText)) end
        rcall("HSET", pendKey,
          "m:" .. vvText, cjson.encode({ p = p, b = bucket, ct = ct, h = hlcText, o = o, e = e, t = t, x = x, a = now }),
          "v:" .. vvText, value)
        rcall("SADD", pendingIndex, ks .. "\0" .. key)
        rcall("SADD", partPending, key)
        anyPending = true
        out[#out + 1] = 3
      else
        out[#out + 1] = 2
      end
      local w, l = hlcParse(hlcText)
      maxW, maxL = hlcMax(maxW, maxL, w, l)
    end
  end
  merkleFlush(merkle)
  -- the partition's own seq matters only when the batch's calls raise the cursor after them
  if fromLog and raiseTo == 0 and applied > applied0 then rcall("HSET", partApplied, appliedField, applied) end
  -- HLC receive rule: the partition's clock never falls behind a stamp it has seen (a group
  -- of duplicates only saw stamps it had seen already)
  if maxW > 0 or maxL > 0 then
    local lw, ll = hlcParse(rcall("GET", hlcKey))
    local w, l = hlcMax(lw, ll, maxW, maxL)
    if w ~= lw or l ~= ll then rcall("SET", hlcKey, hlcFormat(w, l)) end
  end
end

-- the layout checked before anything is written (a caller's error leaves the store as it was)
local k, a = 5, 8
for _ = 1, groups do
  local n = tonumber(ARGV[a + 1])
  k = k + 5 + 4 * n
  a = a + 1 + n
end
if k ~= #KEYS or a ~= #ARGV then
  return redis.error_reply("ERR applyChanges: " .. #KEYS .. " KEYS and " .. #ARGV .. " ARGV do not hold " .. groups .. " groups")
end
k, a = 5, 8
for _ = 1, groups do
  local n = tonumber(ARGV[a + 1])
  applyGroup(k + 5, a + 1, n)
  k = k + 5 + 4 * n
  a = a + 1 + n
end

if fromLog and raiseTo > cursor then rcall("HSET", KEYS[5], appliedField, raiseTo) end
if unremembered > 0 then rcall("INCRBY", KEYS[3], unremembered) end
out[#out + 1] = unremembered
return out
