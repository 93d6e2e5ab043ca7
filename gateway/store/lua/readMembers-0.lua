--[[
  Reads the members (key -> version) of consecutive buckets of one partition for the
  anti-entropy key-list exchange, in one call instead of HLEN + HGETALL per bucket.
  Stops before the bucket that would take the entries read past ARGV[1] (always reads at
  least one bucket); a bucket holding more than ARGV[1] members is not read (the caller
  pages it with HSCAN).

  The member hashes come in KEYS (the caller's key layout; all of one partition: one slot).

  Input:
    then 1 KEYS per bucket, from KEYS[1]: its member hash, in bucket order
    ARGV[1] entries max
  Output: { covered, then per covered bucket: n, key1, version1, ..., keyn, versionn }
          with n = -1 (and no pairs) for a bucket larger than entries max
]]
local rcall = redis.call

local entriesMax = tonumber(ARGV[1])
local out = { 0 }
local total = 0
local covered = 0

for i = 1, #KEYS do
  local name = KEYS[i]
  local n = rcall("HLEN", name)
  if n > entriesMax then
    out[#out + 1] = -1
  else
    if covered > 0 and total + n > entriesMax then break end
    out[#out + 1] = n
    if n > 0 then
      local flat = rcall("HGETALL", name)
      for j = 1, #flat do out[#out + 1] = flat[j] end
      total = total + n
    end
  end
  covered = covered + 1
end

out[1] = covered
return out
