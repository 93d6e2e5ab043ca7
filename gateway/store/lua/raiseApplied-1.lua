--[[
  Raises the region's resume cursor of one origin's log after every call of a batch applied
  in several applyChanges-5.lua calls succeeded (one call per slot; a batch of one call raises
  it in that call): never lowers it (a batch received
  again holds only seqs already applied).

  Input:
    KEYS[1] applied seqs (hash "origin|incarnation" -> seq)
    ARGV[1] the field ("origin|incarnation")    ARGV[2] the highest seq of the batch
  Output: the cursor now
]]
local rcall = redis.call
local cur = tonumber(rcall("HGET", KEYS[1], ARGV[1]) or "0")
local seq = tonumber(ARGV[2])
if seq > cur then
  rcall("HSET", KEYS[1], ARGV[1], ARGV[2])
  return seq
end
return cur
