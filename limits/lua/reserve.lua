-- Reserve a generation's expected cost against a monthly budget, atomically: a burst
-- of concurrent generations never holds more than the budget allows. Both keys share
-- the hash tag of every limit.
--
-- KEYS[1]  the credits spent this month (a counter; absent: lost, rebuild it first)
-- KEYS[2]  the reservations held (a sorted set: "<token>:<credits>" -> expiry, ms)
-- ARGV[1]  the monthly limit
-- ARGV[2]  this generation's expected cost
-- ARGV[3]  this reservation's member, "<token>:<credits>"
-- ARGV[4]  a reservation's lifetime, ms (one whose request died is released then)
--
-- Returns {verdict, spent, held (this reservation included when ok)}:
--   unknown   the month's spending is not in the cache
--   exceeded  spent + held + cost > limit (nothing reserved)
--   ok        reserved

local spent = redis.call('GET', KEYS[1])
if not spent then return {'unknown', 0, 0} end
spent = tonumber(spent)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  held = held + tonumber(string.match(member, ':(%d+)$'))
end
local cost = tonumber(ARGV[2])
if spent + held + cost > tonumber(ARGV[1]) then return {'exceeded', spent, held} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {'ok', spent, held + cost}
