-- Give credits a generation took (take_balance.lua) and did not spend back to the copy,
-- if it still exists (an expired copy is read from Flash again). KEYS[1] the copy;
-- ARGV[1] the credits.
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return -1
