--[[
  Claims, renews or releases the region's coordinator lease (gateway/coordination/).
  Claim: nobody holds the lease (absent or expired) → ARGV[1] takes it under a new token:
  the highest of the counter + 1, Redis's clock in µs and the caller's highest seen token
  (ARGV[7]) + 1, at every takeover. A Redis that came back with older data (a failover to a
  replica that missed the last claim, an older snapshot, a lost AOF second) has the counter
  below the live coordinator's token, or no counter: its clock has moved on by more µs than
  there were takeovers, and the caller's seen token covers a clock that did not; so no token
  is handed out twice. ARGV[1] holds it → renewed for
  ARGV[2] ms from now; another holds it → nothing changes. Release: the lease is removed
  when ARGV[1] holds it (a clean stop: the next instance takes over at its next claim).
  Every claim also records the instance in the region's instance list (KEYS[3]: id →
  "<url>|<Redis ms>"; at most ARGV[6] entries, a new one past that is not listed); the
  holder's claims drop the entries not renewed for ARGV[5] ms. A release removes its entry.

  Input:
    KEYS[1] the coordinator lease (hash: holder, token, url; expires)
    KEYS[2] the token counter   KEYS[3] the region's instances (hash)
    ARGV[1] instance id   ARGV[2] lease ms   ARGV[3] the instance's URL   ARGV[4] claim | release
    ARGV[5] an instance not heard for this long is dropped from the list, ms   ARGV[6] at most this many listed
    ARGV[7] the highest token the caller has seen (0: none); a new token is above it
  Output: { holder, token, url } after the call ({ '', 0, '' } when nobody holds it)
]]
local rcall = redis.call
local holder = rcall("HGET", KEYS[1], "holder")
if ARGV[4] == "release" then
  if holder == ARGV[1] then rcall("DEL", KEYS[1]) end
  rcall("HDEL", KEYS[3], ARGV[1])
  return { "", 0, "" }
end
local t = rcall("TIME")
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if rcall("HEXISTS", KEYS[3], ARGV[1]) == 1 or rcall("HLEN", KEYS[3]) < tonumber(ARGV[6]) then
  rcall("HSET", KEYS[3], ARGV[1], ARGV[3] .. "|" .. nowMs)
end
if holder == ARGV[1] then
  local all = rcall("HGETALL", KEYS[3])
  for i = 1, #all, 2 do
    local seen = tonumber(string.match(all[i + 1], "|(%d+)$") or "0")
    if nowMs - seen > tonumber(ARGV[5]) then rcall("HDEL", KEYS[3], all[i]) end
  end
end
if not holder then
  local token = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local counter = tonumber(rcall("GET", KEYS[2]) or "0") or 0
  if counter + 1 > token then token = counter + 1 end
  local seen = tonumber(ARGV[7]) or 0
  if seen + 1 > token then token = seen + 1 end
  rcall("SET", KEYS[2], string.format("%d", token))
  rcall("HSET", KEYS[1], "holder", ARGV[1], "token", token, "url", ARGV[3])
  rcall("PEXPIRE", KEYS[1], tonumber(ARGV[2]))
  return { ARGV[1], token, ARGV[3] }
end
if holder == ARGV[1] then rcall("PEXPIRE", KEYS[1], tonumber(ARGV[2])) end
local h = rcall("HMGET", KEYS[1], "token", "url")
return { holder, tonumber(h[1]) or 0, h[2] or "" }
