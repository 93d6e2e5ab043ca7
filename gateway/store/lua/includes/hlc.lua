-- Hybrid logical clock stamps as text "wallMs.logical".
local function hlcParse(text)
  if not text then return 0, 0 end
  local w, l = string.match(text, "^(%d+)%.(%d+)$")
  return tonumber(w) or 0, tonumber(l) or 0
end

local function hlcFormat(w, l)
  return string.format("%d.%d", w, l)
end

-- max of two stamps
local function hlcMax(w1, l1, w2, l2)
  if w1 > w2 or (w1 == w2 and l1 >= l2) then return w1, l1 end
  return w2, l2
end

-- Next stamp of this region after (w, l), given the wall clock now. Persists it in hlcKey.
local function hlcTick(hlcKey, w, l, now)
  local lw, ll = hlcParse(rcall("GET", hlcKey))
  w, l = hlcMax(w, l, lw, ll)
  if now > w then w, l = now, 0 else l = l + 1 end
  rcall("SET", hlcKey, hlcFormat(w, l))
  return w, l
end
