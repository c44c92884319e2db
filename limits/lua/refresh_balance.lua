-- A balance just read from Flash becomes the copy (unless this read already made it:
-- the callers that shared one read apply it once), then the cost is taken from it as
-- take_balance.lua does. KEYS[1] the copy; ARGV: the balance, the read's id, the cost,
-- the copy's lifetime in ms. A copy that nobody holds and that cannot pay is dropped.
if redis.call('HGET', KEYS[1], 'r') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'b', ARGV[1], 'r', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local b = tonumber(redis.call('HGET', KEYS[1], 'b'))
if b >= tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], 'b', -tonumber(ARGV[3]))
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  return {1, b}
end
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') <= 0 then redis.call('DEL', KEYS[1]) end
return {0, b}
