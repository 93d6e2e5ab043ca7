--[[
  Deletes tombstones that every region acknowledged (the anti-entropy tombstone collector
  decided so): per item, only if the record is still exactly that tombstone (same version,
  t = 1) and no conflict is pending for the key. Removes the record, XORs its leaf out of
  the bucket digest (dropping the field when it returns to zero, as for a bucket that never
  had keys) and removes the key from the bucket members, so digests stay equal to those of
  a region that collected the same tombstones or never held them.

  One call collects the tombstones of a GROUP of partitions (the caller decides the grouping,
  script-keys.ts `callGroups`: all in one call on one Redis, one call per slot on a cluster);
  every key is in KEYS.

  Input (no fixed KEYS: every key belongs to a group's partition):
    KEYS per group g, in order: its partition's pending index (set of keys; a key listed
      there is never collected), its partition's bucket digests, then 2 KEYS per item of the
      group: its record hash, its bucket's members
    ARGV[1] group count G
    then per group: its item count n, its n versions (text), its n keys
  Output: one code per item, the groups in order: 0 deleted, 1 absent, 2 a newer version is
          there, 3 an older / concurrent version or a pending conflict is there (kept)
]]
local rcall = redis.call
--- @include "vv"
--- @include "merkle"

local groups = tonumber(ARGV[1])
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

-- The n items of one partition: its KEYS from KEYS[k + 1], its versions from ARGV[a + 1].
local function collectGroup(k, a, n)
  local partPending, digestKey = KEYS[k + 1], KEYS[k + 2]
  for i = 1, n do
    local vvText = ARGV[a + i]
    local key = ARGV[a + n + i]
    local recKey, membersKey = KEYS[k + 1 + 2 * i], KEYS[k + 2 + 2 * i]
    local cur = rcall("HMGET", recKey, "vv", "t", "b")
    if not cur[1] then
      out[#out + 1] = 1
    elseif rcall("SISMEMBER", partPending, key) == 1 then
      out[#out + 1] = 3
    elseif cur[1] == vvText and cur[2] == "1" then
      rcall("DEL", recKey)
      xorOut(digestKey, cur[3], key, vvText)
      rcall("HDEL", membersKey, key)
      out[#out + 1] = 0
    elseif vvCompare(vvParse(cur[1]), vvParse(vvText)) == "after" then
      out[#out + 1] = 2
    else
      out[#out + 1] = 3
    end
  end
end

-- the layout checked before anything is deleted
local k, a = 0, 1
for _ = 1, groups do
  local n = tonumber(ARGV[a + 1])
  k = k + 2 + 2 * n
  a = a + 1 + 2 * n
end
if k ~= #KEYS or a ~= #ARGV then
  return redis.error_reply("ERR collectTombstones: " .. #KEYS .. " KEYS and " .. #ARGV .. " ARGV do not hold " .. groups .. " groups")
end
k, a = 0, 1
for _ = 1, groups do
  local n = tonumber(ARGV[a + 1])
  collectGroup(k, a + 1, n)
  k = k + 2 + 2 * n
  a = a + 1 + 2 * n
end
return out
