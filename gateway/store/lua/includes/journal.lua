-- The conflict journal (a stream) and the compensation outbox: bounded, and what a bound
-- drops is counted, never dropped silently.

-- True when stream id `a` ("ms-seq") is strictly after `b` ('' = before everything).
local function streamIdAfter(a, b)
  if b == nil or b == "" then return true end
  local am, as = string.match(a, "^(%d+)-(%d+)$")
  local bm, bs = string.match(b, "^(%d+)-(%d+)$")
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm) or 0, tonumber(bs) or 0
  return am > bm or (am == bm and as > bs)
end

-- Drops the oldest journal entries while the journal is above `maxEntries` or `maxBytes`
-- (each entry carries its size in field "sz"; the total is in `bytesKey`). The newest entry
-- is always kept. Returns how many dropped entries were after the consumer's acknowledged
-- id (`ackedKey`): those are evictions the caller counts and logs.
local function journalTrim(journalKey, bytesKey, ackedKey, maxEntries, maxBytes)
  local acked = rcall("GET", ackedKey) or ""
  local evicted = 0
  for _ = 1, 64 do
    local len = rcall("XLEN", journalKey)
    local bytes = tonumber(rcall("GET", bytesKey) or "0")
    if len <= 1 or (len <= maxEntries and bytes <= maxBytes) then return evicted end
    local first = rcall("XRANGE", journalKey, "-", "+", "COUNT", 1)[1]
    if not first then return evicted end
    local fields = first[2]
    for i = 1, #fields, 2 do
      if fields[i] == "sz" then rcall("DECRBY", bytesKey, fields[i + 1]) end
    end
    rcall("XDEL", journalKey, first[1])
    if streamIdAfter(first[1], acked) then evicted = evicted + 1 end
  end
  return evicted
end
