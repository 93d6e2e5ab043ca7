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
