-- The partition's expiry index: a sorted set, member = key, score = the record's expiry (wall
-- ms, its "x" field), so the sweep finds expired records without a scan. Every script that
-- stores a record keeps it exact: the new version's expiry in, a previous one out.
local function expiryIndex(indexKey, key, oldX, newX)
  if newX and newX ~= "" then
    rcall("ZADD", indexKey, tonumber(newX), key)
  elseif oldX and oldX ~= "" then
    rcall("ZREM", indexKey, key)
  end
end
