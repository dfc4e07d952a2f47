-- Settle (or release: actual 0) one reservation of a user or a tenant, exactly once: the
-- reservation record is deleted as it is applied, so a second call finds nothing and changes nothing.
-- A swept tombstone still counts its usage (its tokens were already given back).
-- With ARGV[4] = '1' (a tenant without a cap, whose admit recorded nothing; sent only after the
-- user's settle applied) a missing record just adds the usage.
-- KEYS: 1 counters hash, 2 reservation hash, 3 reservation expiry zset
-- ARGV: 1 id, 2 actual tokens, 3 the reservation's month, 4 '1' to count without a record
-- Returns {applied 0|1, usage of the reservation's month after}
local id, actual, month = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local c = load_counters(KEYS[1])
local v = redis.call('HGET', KEYS[2], id)
if not v and ARGV[4] == '1' then
  roll_to(c, month)
  local used = settle_counters(c, month, 0, actual)
  save_counters(KEYS[1], c)
  return {1, used}
end
if not v then
  if month == c.m then return {0, c.u} elseif month == c.pm then return {0, c.pu} end
  return {0, 0}
end
local rec_month, tokens, state = parse_record(v)
if state ~= 'R' then tokens = 0 end
local used = settle_counters(c, rec_month, tokens, actual)
save_counters(KEYS[1], c)
redis.call('HDEL', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
return {1, used}
