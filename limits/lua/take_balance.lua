-- Take a generation's expected cost from billing's copy of a balance (relay/precheck.py).
-- The copy is a hash: b the balance (less what generations took from it), n how many
-- generations hold a part of it (until Flash has answered them), r the id of the Flash
-- read it came from. KEYS[1] the copy; ARGV[1] the cost.
-- Returns {1, b before} when it covered the cost (b lowered, n raised), {0, b} when it
-- cannot pay (unchanged), {0, -1} when there is no copy.
local b = redis.call('HGET', KEYS[1], 'b')
if not b then return {0, -1} end
b = tonumber(b)
if b >= tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'b', -tonumber(ARGV[1]))
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  return {1, b}
end
return {0, b}
