--[[
  Deletes tombstones that every region acknowledged (the anti-entropy tombstone collector
  decided so): per item, only if the record is still exactly that tombstone (same version,
  t = 1) and no conflict is pending for the key. Removes the record, XORs its leaf out of
  the bucket digest (dropping the field when it returns to zero, as for a bucket that never
  had keys) and removes the key from the bucket members, so digests stay equal to those of
  a region that collected the same tombstones or never held them.

  Keys of records are derived from ARGV[1] (prefix): standalone Redis only.

  Input:
    KEYS[1] pending-conflict index (set of "ks\0key"; a key listed there is never collected)
    ARGV[1] key prefix    ARGV[2] keyspace    ARGV[3] item count N, then N versions (text)
    ARGV[3 + N + i] key of item i
  Output: one code per item: 0 deleted, 1 absent, 2 a newer version is there,
          3 an older / concurrent version or a pending conflict is there (kept)
]]
local rcall = redis.call
--- @include "vv"
--- @include "merkle"

local prefix, ks = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
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
  local vvText = ARGV[3 + i]
  local key = ARGV[3 + n + i]
  local recKey = prefix .. "r:" .. ks .. ":" .. key
  local cur = rcall("HMGET", recKey, "vv", "t", "p", "b")
  if not cur[1] then
    out[i] = 1
  elseif rcall("SISMEMBER", KEYS[1], ks .. "\0" .. key) == 1 then
    out[i] = 3
  elseif cur[1] == vvText and cur[2] == "1" then
    local p, bucket = cur[3], cur[4]
    rcall("DEL", recKey)
    xorOut(prefix .. "mk:" .. ks .. ":" .. p, bucket, key, vvText)
    rcall("HDEL", prefix .. "mb:" .. ks .. ":" .. p .. ":" .. bucket, key)
    out[i] = 0
  elseif vvCompare(vvParse(cur[1]), vvParse(vvText)) == "after" then
    out[i] = 2
  else
    out[i] = 3
  end
end
return out
