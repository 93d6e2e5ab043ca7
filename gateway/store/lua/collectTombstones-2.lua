--[[
  Deletes tombstones that every region acknowledged (the anti-entropy tombstone collector
  decided so): per item, only if the record is still exactly that tombstone (same version,
  t = 1) and no conflict is pending for the key. Removes the record, XORs its leaf out of
  the bucket digest (dropping the field when it returns to zero, as for a bucket that never
  had keys) and removes the key from the bucket members, so digests stay equal to those of
  a region that collected the same tombstones or never held them.

  One call collects tombstones of ONE partition (the caller splits per partition); every key
  is in KEYS.

  Input:
    KEYS[1] the partition's pending index (set of keys; a key listed there is never collected)
    KEYS[2] the partition's bucket digests
    then 2 KEYS per item i (i = 0 .. N-1), at 3 + 2i: its record hash, its bucket's members
    ARGV[1] item count N, then N versions (text)
    ARGV[1 + N + i] key of item i
  Output: one code per item: 0 deleted, 1 absent, 2 a newer version is there,
          3 an older / concurrent version or a pending conflict is there (kept)
]]
local rcall = redis.call
--- @include "vv"
--- @include "merkle"

local n = tonumber(ARGV[1])
local out = {}

local function xorOut(digestKey, bucket, key, vvText)
  local cur = rcall("HGET", digestKey, bucket)
  local hi, lo = 0, 0
  if cur then hi, lo = tonumber(string.sub(cur, 1, 8), 16), tonumber(string.sub(cur, 9, 16), 16) end
  local a, b = leafDigest(key, vvText)
  hi, lo = bit.bxor(hi, a), bit.bxor(lo, b)
  if hi == 0 and lo == 0 then
    rcall("HDEL", digestKey, bucket)
  else
    rcall("HSET", digestKey, bucket, bit.tohex(hi, 8) .. bit.tohex(lo, 8))
  end
end

for i = 1, n do
  local vvText = ARGV[1 + i]
  local key = ARGV[1 + n + i]
  local recKey, membersKey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local cur = rcall("HMGET", recKey, "vv", "t", "b")
  if not cur[1] then
    out[i] = 1
  elseif rcall("SISMEMBER", KEYS[1], key) == 1 then
    out[i] = 3
  elseif cur[1] == vvText and cur[2] == "1" then
    rcall("DEL", recKey)
    xorOut(KEYS[2], cur[3], key, vvText)
    rcall("HDEL", membersKey, key)
    out[i] = 0
  elseif vvCompare(vvParse(cur[1]), vvParse(vvText)) == "after" then
    out[i] = 2
  else
    out[i] = 3
  end
end
return out
