-- Admit, tenant part: reserve against the tenant's own monthly cap (if any) and record the
-- reservation, so settle can count the tenant's usage exactly once. Keys share the tenant's tag.
-- KEYS: 1 counters hash, 2 reservation hash, 3 reservation expiry zset
-- ARGV: 1 id, 2 cap|'', 3 prompt estimate, 4 max output|'', 5 default output, 6 reservation ttl (ms)
-- Returns {1, tenant tokens, month} | {2, cap, used, resets_at} (cap reached) | {5} (id already held)
local id = ARGV[1]
local cap, prompt, max_output, default_output = opt(ARGV[2]), tonumber(ARGV[3]), opt(ARGV[4]), tonumber(ARGV[5])
local ttl_ms = tonumber(ARGV[6])

local now_us, now_s = server_now()
local now_ms = math.floor(now_us / 1000)
local month, resets_at = month_of(now_s)
local c = load_counters(KEYS[1])
roll_to(c, month)
sweep(c, KEYS[2], KEYS[3], now_ms, ttl_ms)
if redis.call('HEXISTS', KEYS[2], id) == 1 then return {5} end

local tokens = 0
if cap then
  tokens = plan(math.max(0, cap - c.u - c.r), prompt, max_output, default_output)
  if not tokens then
    save_counters(KEYS[1], c)
    return {2, cap, c.u, resets_at}
  end
end
c.r = c.r + tokens
save_counters(KEYS[1], c)
redis.call('HSET', KEYS[2], id, month .. '|' .. int(tokens) .. '|R')
redis.call('ZADD', KEYS[3], int(now_ms + ttl_ms), id)
touch_reservations(KEYS[2], KEYS[3], ttl_ms)
return {1, tokens, month}
