--- @include "packed"
-- The region's replication log: a stream with entry ids "<seq>-0", field "r" = the packed
-- change (see packed.lua), bounded in entries and bytes. Each entry carries its size ("sz") so the byte count stays exact under trimming.
-- Entries past a bound are dropped oldest first; the sender sees the gap (first seq beyond
-- a peer's cursor) and marks that peer for repair, so nothing is dropped silently.
local function logTrimOldest(logKey, bytesKey, maxEntries, maxBytes)
  for _ = 1, 64 do
    local len = rcall("XLEN", logKey)
    local bytes = tonumber(rcall("GET", bytesKey) or "0")
    if len <= maxEntries and bytes <= maxBytes then return end
    local first = rcall("XRANGE", logKey, "-", "+", "COUNT", 1)[1]
    if not first then return end
    local fields = first[2]
    for i = 1, #fields, 2 do
      if fields[i] == "sz" then rcall("DECRBY", bytesKey, fields[i + 1]) end
    end
    rcall("XDEL", logKey, first[1])
  end
end

local function logAppend(logKey, seqKey, bytesKey, maxEntries, maxBytes, ks, key, partition, bucket,
                         value, ct, vvText, hlcText, origin, epoch, tomb, idem, expires)
  local seq = rcall("INCR", seqKey)
  local packed = packChange(seq, ks, key, tostring(partition), tostring(bucket), value, ct, vvText, hlcText,
    origin, tostring(epoch), tomb, idem, expires)
  local sz = #packed + 32
  rcall("XADD", logKey, string.format("%d", seq) .. "-0", "r", packed, "sz", sz)
  rcall("INCRBY", bytesKey, sz)
  logTrimOldest(logKey, bytesKey, maxEntries, maxBytes)
  return seq, packed
end
