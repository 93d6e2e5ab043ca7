-- The store's seq floor: the lowest log seq the caller must find in the store (the highest it
-- saw the store hand out: its own appends, acknowledged or not, and what its senders read and
-- may have shipped; '' = no check). A store below it came back with older data (a failover to
-- a replica that missed writes, an older snapshot): its next seqs would be ones the peers may
-- hold with other content, so nothing may be appended there (-7, as putRecord-12.lua).
local function seqBelowFloor(seqKey, minSeq)
  if minSeq == "" then return false end
  return (tonumber(rcall("GET", seqKey)) or 0) < tonumber(minSeq)
end
