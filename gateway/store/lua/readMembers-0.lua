--[[
  Reads the members (key -> version) of consecutive buckets of one partition for the
  anti-entropy key-list exchange, in one call instead of HLEN + HGETALL per bucket.
  Stops before the bucket that would take the entries read past ARGV[1] (always reads at
  least one bucket); a bucket holding more than ARGV[1] members is not read (the caller
  pages it with HSCAN).

  Member hash names come in ARGV (built by the caller from its key layout): standalone
  Redis only.

  Input:
    ARGV[1] entries max    ARGV[2..] member hash names, in bucket order
  Output: { covered, then per covered bucket: n, key1, version1, ..., keyn, versionn }
          with n = -1 (and no pairs) for a bucket larger than entries max
]]
local rcall = redis.call

local entriesMax = tonumber(ARGV[1])
local out = { 0 }
local total = 0
local covered = 0

for i = 2, #ARGV do
  local name = ARGV[i]
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
