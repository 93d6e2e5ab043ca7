-- A partition's fence: the text "epoch:endMs", where endMs is the absolute end of the
-- owner's lease on Redis's own clock (TIME, in ms; gateway/store/redis-clock.ts maps the
-- gateway's monotonic lease end onto it conservatively). It is never a relative PX: a SET
-- that was queued behind a frozen Redis, or replayed after a reconnect, carries the same
-- absolute end and cannot revive a lease that already ended.

-- Redis's clock now, in ms.
local function fenceNowMs()
  local t = rcall("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- True when the fence in `fenceKey` carries `epoch` (text) and has not ended; `writerEndMs`
-- (a number, or nil) is the writer's own view of its lease end and shortens the fence. A fence
-- found ended is removed (it has no expiry of its own: lua/setFences-1.lua), so a later step
-- back of Redis's clock, or a replica whose clock is behind, cannot make it hold again.
local function fenceHolds(fenceKey, epoch, writerEndMs)
  local f = rcall("GET", fenceKey)
  if not f then return false end
  local sep = string.find(f, ":", 1, true)
  local endMs = sep and tonumber(string.sub(f, sep + 1)) or 0
  local now = fenceNowMs()
  if now >= endMs then
    rcall("DEL", fenceKey)
    return false
  end
  if string.sub(f, 1, sep - 1) ~= epoch then return false end
  if writerEndMs ~= nil and writerEndMs < endMs then endMs = writerEndMs end
  return now < endMs
end
