--[[
  Withdraws the coordinator's board at a clean stop (gateway/coordination/board.ts): its head,
  entries and changes are removed, so no instance trusts the stopped coordinator's word for the
  rest of the board's validity (an instance booting then, or writing on after the stop). Only
  when no other instance holds the coordinator lease now: a coordinator that took over since
  publishes its own board, which stays.

  Input:
    KEYS[1] the board's head   KEYS[2] its entries   KEYS[3] its changes   KEYS[4] the coordinator lease
    ARGV[1] the stopping instance's id
  Output: 1 withdrawn | 0 another instance holds the lease (nothing removed)
]]
local rcall = redis.call
local holder = rcall("HGET", KEYS[4], "holder")
if holder and holder ~= ARGV[1] then return 0 end
rcall("DEL", KEYS[1], KEYS[2], KEYS[3])
return 1
