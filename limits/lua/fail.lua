-- A failed authentication of the client IP: counted in a window that starts with the
-- first failure. KEYS[1] the counter; ARGV[1] the length of a window, ms.
-- Returns {failures this window, ms left in it}.
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if count == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
