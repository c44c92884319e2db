-- Settle a reservation (reserve.lua) to the credits actually spent.
-- KEYS as reserve.lua's; ARGV[1] the reservation's member, ARGV[2] credits spent.
-- Returns {spent (-1: not in the cache, the rebuild from usage records will count
-- it), held by the other reservations}.
redis.call('ZREM', KEYS[2], ARGV[1])
local spent = -1
if redis.call('EXISTS', KEYS[1]) == 1 then spent = redis.call('INCRBY', KEYS[1], ARGV[2]) end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local held = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do
  held = held + tonumber(string.match(member, ':(%d+)$'))
end
return {spent, held}
