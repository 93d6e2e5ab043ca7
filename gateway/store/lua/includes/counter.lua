-- The counter resolver's PN-counter JSON ({"n":{"west":2},"p":{"east":5}}, conflict/resolvers/counter.ts):
-- `region` adds `delta` to its own entry (p for delta >= 0, n for a negative one), written
-- canonically (members sorted, no whitespace) as encodeCounter does. nil when the current value
-- is not a PN-counter, has a member name this writer does not write back byte for byte, or a
-- count would pass 2^53.
local COUNT_MAX = 9007199254740991

local function counterPart(part)
  if part == nil then return {} end
  if type(part) ~= "table" then return nil end
  for k, x in pairs(part) do
    if type(k) ~= "string" or not string.match(k, "^[%w_%-%.]+$") then return nil end
    if type(x) ~= "number" or x < 0 or x > COUNT_MAX or x ~= math.floor(x) then return nil end
  end
  return part
end

local function counterPartText(part)
  local names = {}
  for k in pairs(part) do names[#names + 1] = k end
  table.sort(names)
  local out = {}
  for i, k in ipairs(names) do out[i] = '"' .. k .. '":' .. string.format("%d", part[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local function counterAdd(curValue, region, delta)
  local doc = {}
  if curValue and curValue ~= "" then
    local ok, parsed = pcall(cjson.decode, curValue)
    if not ok or type(parsed) ~= "table" then return nil end
    for k in pairs(parsed) do if k ~= "p" and k ~= "n" then return nil end end
    doc = parsed
  end
  local p, n = counterPart(doc.p), counterPart(doc.n)
  if not p or not n then return nil end
  local part, by = p, delta
  if delta < 0 then part, by = n, -delta end
  local next = (part[region] or 0) + by
  if next > COUNT_MAX then return nil end
  part[region] = next
  return '{"n":' .. counterPartText(n) .. ',"p":' .. counterPartText(p) .. '}'
end
