-- Take a generation's expected cost from billing's copy of a balance (relay/precheck.py).
-- KEYS[1] the copy; ARGV[1] the cost. Returns {1, the copy before} when it covered the
-- cost (now lowered by it), {0, the copy} when it cannot pay (left as it is), {0, -1}
-- when there is no copy.
local value = redis.call('GET', KEYS[1])
if not value then return {0, -1} end
value = tonumber(value)
if value >= tonumber(ARGV[1]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return {1, value}
end
return {0, value}
