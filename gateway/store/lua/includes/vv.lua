-- Version vectors as canonical text: "regionA:3,regionB:1", regions sorted, zeros dropped.
-- Must match vvToString/vvFromString in conflict/vv.ts.
local function vvParse(text)
  local vv = {}
  if text then
    for region, n in string.gmatch(text, "([^,:]+):(%d+)") do vv[region] = tonumber(n) end
  end
  return vv
end

local function vvFormat(vv)
  local regions = {}
  for region, n in pairs(vv) do if n > 0 then regions[#regions + 1] = region end end
  table.sort(regions)
  local parts = {}
  for i, region in ipairs(regions) do parts[i] = region .. ":" .. string.format("%d", vv[region]) end
  return table.concat(parts, ",")
end

-- "after" | "before" | "equal" | "concurrent" (a relative to b)
local function vvCompare(a, b)
  local aBig, bBig = false, false
  for region, x in pairs(a) do
    local y = b[region] or 0
    if x > y then aBig = true elseif y > x then bBig = true end
  end
  for region, y in pairs(b) do
    if a[region] == nil and y > 0 then bBig = true end
  end
  if aBig and bBig then return "concurrent" end
  if aBig then return "after" end
  if bBig then return "before" end
  return "equal"
end
