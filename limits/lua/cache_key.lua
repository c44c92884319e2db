-- Cache an API key's record unless an entry exists (a revocation's tombstone written
-- meanwhile must win). KEYS[1] the record; ARGV: lifetime ms, record, rpm, concurrent.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'rpm', ARGV[3], 'concurrent', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
