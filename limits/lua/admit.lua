-- The one Redis round trip before a view: every limit a request is subject to, decided
-- atomically. All keys share one hash tag, so the script runs on a Redis Cluster too.
--
-- KEYS[1]  failed authentications of the client IP this minute (a counter)
-- KEYS[2]  the API key's cached record (a hash: record, rpm, concurrent | revoked)
-- KEYS[3]  the caller's requests this minute (a counter)
-- KEYS[4]  the caller's concurrency slots (a sorted set: token -> expiry, ms)
-- ARGV[1]  failed authentications allowed a minute, -1: not checked
-- ARGV[2]  requests allowed a minute; 'key': the record's; -1: not counted
-- ARGV[3]  concurrent requests allowed; 'key': the record's; -1: no slot wanted
-- ARGV[4]  the length of a window, ms
-- ARGV[5]  this request's slot token
-- ARGV[6]  a slot's lifetime, ms (the slot of a worker that died expires then)
-- ARGV[7]  '1': read the key's record (KEYS[2])
--
-- Returns {verdict, record or nil, count, ms left in the window, requests allowed}:
--   blocked  too many failed authentications from this IP (count and ms left: theirs)
--   unknown  the key has no cached record: look it up, cache it, ask again
--   revoked  the key is revoked
--   limited  over the requests per minute (no slot taken)
--   busy     every concurrency slot is held
--   ok       counted, and a slot taken when one was wanted

if tonumber(ARGV[1]) >= 0 then
  local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
  if failures >= tonumber(ARGV[1]) then
    return {'blocked', false, failures, redis.call('PTTL', KEYS[1]), 0}
  end
end

local record, rpm, concurrent = false, ARGV[2], ARGV[3]
if ARGV[7] == '1' then
  local fields = redis.call('HMGET', KEYS[2], 'record', 'rpm', 'concurrent', 'revoked')
  if fields[4] then return {'revoked', false, 0, 0, 0} end
  if not fields[1] then return {'unknown', false, 0, 0, 0} end
  record = fields[1]
  if rpm == 'key' then rpm = fields[2] end
  if concurrent == 'key' then concurrent = fields[3] end
end
rpm, concurrent = tonumber(rpm), tonumber(concurrent)

local count, left = 0, 0
if rpm >= 0 then
  count = redis.call('INCR', KEYS[3])
  left = redis.call('PTTL', KEYS[3])
  if count == 1 or left < 0 then
    redis.call('PEXPIRE', KEYS[3], ARGV[4])
    left = tonumber(ARGV[4])
  end
  if count > rpm then return {'limited', record, count, left, rpm} end
end

if concurrent >= 0 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) >= concurrent then return {'busy', record, count, left, rpm} end
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
return {'ok', record, count, left, rpm}
