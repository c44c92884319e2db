-- Take a generation's expected cost from billing's copy of a balance (relay/precheck.py).
-- The copy is a hash: b the balance (less what generations took from it), n how many
-- generations hold a part of it (until Flash has answered them), r the id of the Flash
-- read it came from. KEYS[1] the copy; ARGV[1] the cost; with a balance just read from
-- Flash, ARGV[2] that balance, ARGV[3] the read's id and ARGV[4] the copy's lifetime in
-- ms: it becomes the copy first (once per read: the callers that shared it apply it once).
-- Returns {1, b before} when the copy covered the cost (b lowered, n raised), {0, b}
-- when it cannot pay (a copy nobody holds is then dropped), {0, -1} when there is none.
if ARGV[3] and redis.call('HGET', KEYS[1], 'r') ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'b', ARGV[2], 'r', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local b = redis.call('HGET', KEYS[1], 'b')
if not b then return {0, -1} end
b = tonumber(b)
if b >= tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'b', -tonumber(ARGV[1]))
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  return {1, b}
end
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') <= 0 then redis.call('DEL', KEYS[1]) end
return {0, b}
