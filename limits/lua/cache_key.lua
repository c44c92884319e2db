-- Cache an API key's record. KEYS[1] the record; ARGV: lifetime ms, record, rpm,
-- concurrent, '1' to replace a record already cached (a key's settings changed).
-- A revocation's tombstone always wins; without ARGV[5], so does any entry written
-- meanwhile (a request that read the row before a change must not undo it).
if ARGV[5] == '1' then
  if redis.call('HEXISTS', KEYS[1], 'revoked') == 1 then return 0 end
  redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'rpm', ARGV[3], 'concurrent', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
