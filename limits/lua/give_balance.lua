-- A generation that took from the copy (take_balance.lua, refresh_balance.lua) is done
-- with it: what it did not spend goes back, and the last holder drops the copy, so a
-- caller's next generation on its own reads Flash again. KEYS[1] the copy; ARGV[1] the
-- credits not spent.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if tonumber(ARGV[1]) > 0 then redis.call('HINCRBY', KEYS[1], 'b', ARGV[1]) end
local n = redis.call('HINCRBY', KEYS[1], 'n', -1)
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
