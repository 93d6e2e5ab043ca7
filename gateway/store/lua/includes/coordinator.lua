-- The region's coordinator lease (a hash: holder, token, url; gateway/coordination/): a
-- script that changes shared state for the coordinator (applying peers' changes, fences and
-- owners, resolutions, trims) runs only under the lease's current token, so a coordinator
-- that lost its lease (frozen, cut off, resumed late) has its late commands refused (-11).
-- The token '' is the one-instance mode (no election): nothing is checked.
local function coordinatorRefused(leaseKey, token)
  if token == "" then return false end
  return rcall("HGET", leaseKey, "token") ~= token
end
