/**
 * The Lua scripts behind every Redis write: each touches one key (valid in Cluster), judges
 * leases by the Redis server's clock, and compare-and-sets on the owner token.
 */
// Lua: the server's clock in ms, so leases do not depend on replica clocks.
const NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/**
 * KEYS[1] record; ARGV token, fingerprint, leaseMs, ttlMs, about JSON ('' for none) →
 * {outcome, previous-or-current JSON}. The record lives at least its lease.
 */
export const CLAIM = `${NOW}
local ttl = math.max(tonumber(ARGV[3]), tonumber(ARGV[4]))
local record = { state = 'in-flight', token = ARGV[1], fingerprint = ARGV[2], createdAt = now,
  leaseUntil = now + tonumber(ARGV[3]), expiresAt = now + ttl }
if ARGV[5] ~= '' then record.about = cjson.decode(ARGV[5]) end
-- No keyv "expires": Redis' PX expires the key, and keyv would otherwise delete it by a replica's clock.
local fresh = cjson.encode({ value = record })
if redis.call('SET', KEYS[1], fresh, 'NX', 'PX', ttl) then return { 'claimed', '' } end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], fresh, 'PX', ttl)
  return { 'claimed', '' }
end
local envelope = cjson.decode(current)
local held = envelope.value
if held.state == 'in-flight' and tonumber(held.leaseUntil) <= now then
  redis.call('SET', KEYS[1], fresh, 'PX', ttl)
  return { 'taken-over', current }
end
return { 'exists', current }`;

/** KEYS[1] record; ARGV token, final envelope JSON, ttlMs, channel → 1 if owner */
export const COMPLETE = `local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local held = cjson.decode(current).value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], KEYS[1])
return 1`;

/** KEYS[1] record; ARGV final envelope JSON, ttlMs, channel, new state → 1 if written. A
 * journaled answer beats an in-flight record whose lease ran out (its owner lost Redis, the
 * gateway answered) and a completed answer beats an indeterminate marker; nothing replaces a
 * completed one, nor an in-flight record whose lease is live (another replica may be sending
 * it now: the write-back waits and tries again). */
export const PUT_FINAL = `${NOW}
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current).value
  if held.state == 'completed' then return 0 end
  if held.state == 'in-flight' and tonumber(held.leaseUntil) > now then return -1 end
  if held.state == 'indeterminate' and ARGV[4] ~= 'completed' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], KEYS[1])
return 1`;

/**
 * KEYS[1] record; ARGV token, leaseMs → 1 if owner. The expiry — the record's and the key's
 * PX — moves on as far as the lease does, never short of it (types.ts, renewedLease).
 */
export const RENEW = `${NOW}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local envelope = cjson.decode(current)
local held = envelope.value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
local leaseUntil = now + tonumber(ARGV[2])
local expiresAt = math.max(tonumber(held.expiresAt) + math.max(0, leaseUntil - tonumber(held.leaseUntil)), leaseUntil)
held.leaseUntil = leaseUntil
held.expiresAt = expiresAt
redis.call('SET', KEYS[1], cjson.encode(envelope), 'PX', math.max(1, expiresAt - now))
return 1`;

/** KEYS[1] record; ARGV token, channel → 1 if owner */
export const RELEASE = `local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local held = cjson.decode(current).value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], KEYS[1])
return 1`;

/** KEYS[1] record → {envelope JSON, PTTL} or nil: the record and its remaining TTL in one read. */
export const INSPECT = `local current = redis.call('GET', KEYS[1])
if not current then return false end
return { current, redis.call('PTTL', KEYS[1]) }`;

/**
 * KEYS[1] record; ARGV final envelope JSON ('' to release), channel, accept, fingerprint, ttlMs
 * → resolved | not_found | not_indeterminate. An operator's resolution: only an
 * indeterminate record (with accept = 'not-completed': also an in-flight or missing one, for a
 * key whose indeterminate record waits in this replica's journal) is replaced or deleted, and
 * a completion only over the fingerprint it was made for. Never over an in-flight record whose
 * lease is live: another replica may be sending that request now. The TTL left is kept
 * (KEEPTTL), or set to ttlMs when given.
 */
export const RESOLVE = `${NOW}
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current).value
  if held.state == 'completed' then return 'not_indeterminate' end
  if held.state == 'in-flight' and tonumber(held.leaseUntil) > now then return 'not_indeterminate' end
  if held.state ~= 'indeterminate' and ARGV[3] ~= 'not-completed' then return 'not_indeterminate' end
  if ARGV[1] ~= '' and held.fingerprint ~= ARGV[4] then return 'not_indeterminate' end
elseif ARGV[3] ~= 'not-completed' then
  return 'not_found'
end
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
redis.call('PUBLISH', ARGV[2], KEYS[1])
return 'resolved'`;
