-- Remembered outcomes of writes that carried an Idempotency-Key: one hash per key (field f =
-- the request's fingerprint, then what the answer needs: v version, q seq, h hlc, c created,
-- t tombstone, e epoch), expiring after the configured time, and one zset indexing them by
-- expiry (wall ms) so their number per region stays under a cap.

-- The first outcome as the write script answers it ({ 2, version, seq, hlc, created, tomb, epoch }),
-- -9 when the key was used by another request, nil when it is not remembered.
local function idemLookup(outcomeKey, fingerprint)
  local o = rcall("HMGET", outcomeKey, "f", "v", "q", "h", "c", "t", "e")
  if not o[1] then return nil end
  if o[1] ~= fingerprint then return -9 end
  return { 2, o[2], tonumber(o[3]), o[4], tonumber(o[5]), o[6], o[7] }
end

-- Drops expired entries from the index, at most 256 per call (they have the lowest scores:
-- the oldest expiries; O(log n + 256), however many expired at once), then: is there room for
-- one more? The expired entries left for the next calls count as free room.
local function idemRoom(indexKey, now, max)
  local expired = rcall("ZCOUNT", indexKey, "-inf", now)
  local drop = math.min(expired, 256)
  if drop > 0 then rcall("ZREMRANGEBYRANK", indexKey, 0, drop - 1) end
  return rcall("ZCARD", indexKey) - (expired - drop) < max
end

local function idemRemember(outcomeKey, indexKey, idemKey, now, ttlMs, fields)
  rcall("HSET", outcomeKey, unpack(fields))
  rcall("PEXPIRE", outcomeKey, ttlMs)
  rcall("ZADD", indexKey, now + ttlMs, idemKey)
end
