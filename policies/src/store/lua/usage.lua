-- Current month of one user or tenant, on the server clock (sweeps expired reservations first,
-- so `reserved` does not count a crashed instance's leftovers).
-- KEYS: 1 counters hash, 2 reservation hash, 3 reservation expiry zset
-- ARGV: 1 reservation ttl (ms)
-- Returns {month, used, reserved, resets_at, tier}
local now_us, now_s = server_now()
local month, resets_at = month_of(now_s)
local c = load_counters(KEYS[1])
if c.m == '' then return {month, 0, 0, resets_at, ''} end
roll_to(c, month)
sweep(c, KEYS[2], KEYS[3], math.floor(now_us / 1000), tonumber(ARGV[1]))
save_counters(KEYS[1], c)
return {month, c.u, c.r, resets_at, redis.call('HGET', KEYS[1], 'tier') or ''}
