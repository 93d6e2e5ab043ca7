-- Merkle leaves: each bucket of a partition holds the XOR of a 64-bit digest of
-- (key, version) over its keys, plus a member hash key -> version for the exchange.
local function leafDigest(key, vvText)
  local h = redis.sha1hex(key .. "\0" .. vvText)
  return tonumber(string.sub(h, 1, 8), 16), tonumber(string.sub(h, 9, 16), 16)
end

local function merkleUpdate(digestKey, membersKey, bucket, key, oldVv, newVv)
  local cur = rcall("HGET", digestKey, bucket)
  local hi, lo = 0, 0
  if cur then hi, lo = tonumber(string.sub(cur, 1, 8), 16), tonumber(string.sub(cur, 9, 16), 16) end
  if oldVv then
    local a, b = leafDigest(key, oldVv)
    hi, lo = bit.bxor(hi, a), bit.bxor(lo, b)
  end
  local a, b = leafDigest(key, newVv)
  hi, lo = bit.bxor(hi, a), bit.bxor(lo, b)
  rcall("HSET", digestKey, bucket, bit.tohex(hi, 8) .. bit.tohex(lo, 8))
  rcall("HSET", membersKey, key, newVv)
end

-- Batched form for scripts that touch many keys: XOR contributions are accumulated per
-- (digest key, bucket) in `acc` and written once each by merkleFlush.
local function merkleAccumulate(acc, digestKey, membersKey, bucket, key, oldVv, newVv)
  local slot = acc[digestKey .. "\0" .. bucket]
  if not slot then
    slot = { digestKey, bucket, 0, 0 }
    acc[digestKey .. "\0" .. bucket] = slot
  end
  if oldVv then
    local a, b = leafDigest(key, oldVv)
    slot[3], slot[4] = bit.bxor(slot[3], a), bit.bxor(slot[4], b)
  end
  local a, b = leafDigest(key, newVv)
  slot[3], slot[4] = bit.bxor(slot[3], a), bit.bxor(slot[4], b)
  rcall("HSET", membersKey, key, newVv)
end

local function merkleFlush(acc)
  for _, slot in pairs(acc) do
    local cur = rcall("HGET", slot[1], slot[2])
    local hi, lo = slot[3], slot[4]
    if cur then hi, lo = bit.bxor(hi, tonumber(string.sub(cur, 1, 8), 16)), bit.bxor(lo, tonumber(string.sub(cur, 9, 16), 16)) end
    rcall("HSET", slot[1], slot[2], bit.tohex(hi, 8) .. bit.tohex(lo, 8))
  end
end
