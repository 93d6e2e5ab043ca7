--[[
  Writes (or deletes, as a tombstone) one record: the whole local write path in one call.
  Checks the partition's fence/epoch and the preconditions, bumps the version vector and the
  HLC, stores the record, appends the change to the region's replication log, and updates
  the partition's Merkle bucket digest. With an Idempotency-Key the logged change carries
  the key, the fingerprint and created (packed.lua's trailer): the peers remember the outcome.

  Input:
    KEYS[1] record hash          KEYS[5] the partition's HLC
    KEYS[2] replication log      KEYS[6] partition bucket digests
    KEYS[3] log seq counter      KEYS[7] bucket members (key -> version)
    KEYS[4] log byte count       KEYS[8] partition fence ("epoch:endMs", includes/fence.lua)
                                 KEYS[9] the store's identity (RegionStore.checkIdentity)
    KEYS[10] the request's remembered outcome (Idempotency-Key; the record hash when ARGV[20] is '': not touched)
    KEYS[11] the region's index of remembered outcomes (zset: idempotency key -> expiry wall ms)
    KEYS[12] the partition's expiry index (zset: key -> expiry wall ms, includes/expiry.lua)

    ARGV[1] region               ARGV[9]  fence required (1 | 0)
    ARGV[2] now (wall ms)        ARGV[10] log max entries
    ARGV[3] value bytes          ARGV[11] log max bytes
    ARGV[4] content type         ARGV[12] keyspace
    ARGV[5] tombstone (1 | 0)    ARGV[13] key
    ARGV[6] If-Match version ('' = none, * = any live version)
    ARGV[7] If-None-Match * (1 | 0)
    ARGV[8] writer's epoch       ARGV[14] partition, ARGV[15] bucket
                                 ARGV[16] this region's counter floor (0 = none)
                                 ARGV[17] the store identity the writer claimed ('' = no check)
                                 ARGV[18] the writer's own lease end on Redis's clock, ms ('' = none)
                                 ARGV[19] the lowest log seq the store must hold: the highest one the
                                          writer saw it hand out ('' = no check)
    ARGV[20] Idempotency-Key ('' = none)   ARGV[21] the request's fingerprint (hex)
    ARGV[22] how long an outcome is remembered, ms   ARGV[23] at most this many remembered per region
    ARGV[24] operation: '' = put/delete (ARGV[3] is the value), 'incr' = add the integer ARGV[3] to
             this region's entry of the PN-counter JSON (ARGV[3] may be negative), 'expire' = keep
             the live value and content type, set only the expiry (ARGV[25]), 'sweep' = the expiry
             tombstone (below)
    ARGV[25] time to live, ms ('' or 0 = the version never expires): its expiry ("x") is the
             write's own HLC wall time + this, an absolute wall time. A put without it persists.

  A record whose expiry ("x") is at or before ARGV[2] counts as absent for every check (live,
  If-Match, If-None-Match, delete, expire): it reads as 404 already, only its tombstone is due.
  'sweep' writes that tombstone: only when the current version is exactly ARGV[6] and expired
  at ARGV[2] (else -1: revived or changed meanwhile, nothing written but the key's entry in
  the expiry index, made the record's own); it carries the expiry's
  own stamp (x.0, or one tick above the expired version's if that is higher), not the time
  of the sweep, so under lww it loses to any write made after the expiry at another region.
  Its content type is "application/vnd.geogate.expired" and its value the expired version's
  vector (conflict/expired.ts): it loses to any version that dominates that one.

  Output:
    { 1 = created | 0 = updated, version, seq, hlc, packed change as logged (for the senders' tail cache), expiry ('' = none) }
    or, for a retry whose Idempotency-Key is remembered with the same fingerprint (nothing written):
    { 2, version, seq, hlc, created (1 | 0), tombstone (1 | 0), epoch }
    -1 If-Match mismatch, -2 If-None-Match failed, -3 fenced (no fence for this epoch, or its end or the writer's has passed on Redis's clock),
    -4 delete of an absent key, -7 the store's identity is not the writer's (Redis lost its data),
    or its log seq is below ARGV[19] (it came back with older data: a failover to a replica that
    missed writes, an older snapshot), so the next seqs would be ones already handed out,
    -8 the region remembers ARGV[23] outcomes already (nothing written; the oldest expires first),
    -9 the Idempotency-Key is remembered with another fingerprint (another request), -10 the
    counter's value is not a PN-counter (or the sum is past 2^53)
]]
local rcall = redis.call
--- @include "vv"
--- @include "hlc"
--- @include "merkle"
--- @include "log"
--- @include "fence"
--- @include "idempotency"
--- @include "counter"
--- @include "expiry"

local region, now, tomb = ARGV[1], tonumber(ARGV[2]), ARGV[5]
local epoch = ARGV[8]

if ARGV[17] ~= "" and rcall("GET", KEYS[9]) ~= ARGV[17] then return -7 end
if ARGV[19] ~= "" and (tonumber(rcall("GET", KEYS[3])) or 0) < tonumber(ARGV[19]) then return -7 end

-- a retry answers with the first outcome whatever happened since (fence, If-Match, a newer value)
local idemKey = ARGV[20]
if idemKey ~= "" then
  local seen = idemLookup(KEYS[10], ARGV[21])
  if seen then return seen end
  if not idemRoom(KEYS[11], now, tonumber(ARGV[23])) then return -8 end
end

if ARGV[9] == "1" and not fenceHolds(KEYS[8], epoch, tonumber(ARGV[18])) then return -3 end

local cur = rcall("HMGET", KEYS[1], "vv", "h", "t", "x")
local curVv, curHlc, curTomb, curX = cur[1], cur[2], cur[3], cur[4] or ""
local expired = curX ~= "" and tonumber(curX) <= now
local live = curVv ~= false and curTomb ~= "1" and not expired
local op = ARGV[24]
local ttl = tonumber(ARGV[25]) or 0

if op == "sweep" then
  if curVv ~= ARGV[6] or curTomb == "1" or not expired then
    -- revived, changed or gone since the sweep read it: its index entry becomes the record's own
    if curVv and curTomb ~= "1" and curX ~= "" then rcall("ZADD", KEYS[12], tonumber(curX), ARGV[13])
    else rcall("ZREM", KEYS[12], ARGV[13]) end
    return -1
  end
end

if op ~= "sweep" then
  if ARGV[6] ~= "" and (not live or (ARGV[6] ~= "*" and curVv ~= ARGV[6])) then return -1 end
  if ARGV[7] == "1" and live then return -2 end
  if (tomb == "1" or op == "expire") and not live then return -4 end
end

local vv = vvParse(curVv or "")
vv[region] = math.max((vv[region] or 0) + 1, tonumber(ARGV[16]) or 0)
local vvText = vvFormat(vv)
local cw, cl = hlcParse(curHlc or nil)
local w, l
if op == "sweep" then
  -- the expiry's own stamp (never the sweep's time); above the expired version's in any case
  w, l = hlcMax(tonumber(curX), 0, cw, cl + 1)
else
  w, l = hlcTick(KEYS[5], cw, cl, now)
end
local hlcText = hlcFormat(w, l)
local value = ARGV[3]
local ct = ARGV[4]
local expires = ""
if ttl > 0 and tomb ~= "1" then expires = string.format("%d", w + ttl) end
if tomb == "1" then value = "" end
-- the expiry tombstone names the version it expired (conflict/expired.ts): a refresh that
-- dominates that version wins against it in a conflict, whatever the stamps
if op == "sweep" then value, ct = curVv, "application/vnd.geogate.expired" end
if op == "expire" then value, ct = rcall("HGET", KEYS[1], "v"), rcall("HGET", KEYS[1], "ct") or "" end
if op == "incr" then
  local curValue = ""
  if live then curValue = rcall("HGET", KEYS[1], "v") end
  value = counterAdd(curValue, region, tonumber(ARGV[3]))
  if not value then return -10 end
end

local created = 0
if not live then created = 1 end
-- the outcome travels with the change: the regions applying it remember it too (applyChanges)
local idem = nil
if idemKey ~= "" then idem = { idemKey, ARGV[21], tostring(created) } end

rcall("HSET", KEYS[1], "v", value, "ct", ct, "vv", vvText, "h", hlcText, "o", region,
  "e", epoch, "t", tomb, "p", ARGV[14], "b", ARGV[15], "x", expires)
local seq, packed = logAppend(KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[10]), tonumber(ARGV[11]),
  ARGV[12], ARGV[13], ARGV[14], ARGV[15], value, ct, vvText, hlcText, region, epoch, tomb, idem, expires)
merkleUpdate(KEYS[6], KEYS[7], ARGV[15], ARGV[13], curVv or nil, vvText)
expiryIndex(KEYS[12], ARGV[13], curX, expires)

if idemKey ~= "" then
  idemRemember(KEYS[10], KEYS[11], idemKey, now, tonumber(ARGV[22]),
    { "f", ARGV[21], "v", vvText, "q", seq, "h", hlcText, "c", created, "t", tomb, "e", epoch })
end
return { created, vvText, seq, hlcText, packed, expires }
