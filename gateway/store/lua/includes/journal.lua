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
-- (each entry carries its size in field "sz"; the total is in `bytesKey`; the newest entry is
-- always kept for these two bounds) or its oldest entry's id (Redis's time of the append, ms)
-- is before `cutoffMs` (nil: no age bound). At most `rounds` entries (default 64) per call.
-- Returns how many dropped entries were after the consumer's acknowledged id (`ackedKey`):
-- those are evictions the caller counts and logs; and how many entries it dropped in all.
local function journalTrim(journalKey, bytesKey, ackedKey, maxEntries, maxBytes, cutoffMs, rounds)
  local acked = rcall("GET", ackedKey) or ""
  local evicted, dropped = 0, 0
  for _ = 1, (rounds or 64) do
    local len = rcall("XLEN", journalKey)
    if len == 0 then
      rcall("DEL", bytesKey)
      break
    end
    local bytes = tonumber(rcall("GET", bytesKey) or "0")
    local first = rcall("XRANGE", journalKey, "-", "+", "COUNT", 1)[1]
    if not first then break end
    local over = len > 1 and (len > maxEntries or bytes > maxBytes)
    local aged = cutoffMs ~= nil and tonumber(string.match(first[1], "^(%d+)-")) < cutoffMs
    if not over and not aged then break end
    local fields = first[2]
    for i = 1, #fields, 2 do
      if fields[i] == "sz" then rcall("DECRBY", bytesKey, fields[i + 1]) end
    end
    rcall("XDEL", journalKey, first[1])
    dropped = dropped + 1
    if streamIdAfter(first[1], acked) then evicted = evicted + 1 end
  end
  return evicted, dropped
end
