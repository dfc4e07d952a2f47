-- Admit, user part: quota reserve + requests/min + tokens/min GCRA for one (tenant, user),
-- atomically, on the server clock. All keys share the user's hash tag.
-- KEYS: 1 counters hash, 2 reservation hash, 3 reservation expiry zset, 4 requests TAT, 5 tokens TAT
-- ARGV: 1 id, 2 tier, 3 prompt estimate, 4 max output|'', 5 default output, 6 monthly|'',
--       7 requests/min|'', 8 tokens/min|'', 9 reservation ttl (ms)
-- Returns one of
--   {1, tokens, month, quota remaining|-1, req limit|-1, req remaining, req reset us, tok limit|-1, tok remaining, tok reset us}
--   {2, limit, used, reserved, resets_at}                 quota exhausted
--   {3, kind, limit, retry us, req..., tok...}            rate limited (kind 1 requests, 2 tokens)
--   {4, kind, limit, requested}                           too large
--   {5}                                                   reservation id already held
local id, tier = ARGV[1], ARGV[2]
local prompt, max_output, default_output = tonumber(ARGV[3]), opt(ARGV[4]), tonumber(ARGV[5])
local monthly, rpm, tpm, ttl_ms = opt(ARGV[6]), opt(ARGV[7]), opt(ARGV[8]), tonumber(ARGV[9])

local now_us, now_s = server_now()
local now_ms = math.floor(now_us / 1000)
local month, resets_at = month_of(now_s)
local c = load_counters(KEYS[1])
roll_to(c, month)
sweep(c, KEYS[2], KEYS[3], now_ms, ttl_ms)
if redis.call('HEXISTS', KEYS[2], id) == 1 then return {5} end

-- Size the reservation (size_reservation in quota.rs).
local available = monthly and math.max(0, monthly - c.u - c.r) or 2 ^ 53
local tokens = plan(available, prompt, max_output, default_output)
if not tokens then
  save_counters(KEYS[1], c)
  return {2, monthly, c.u, c.r, resets_at}
end
if tpm and tokens > tpm then
  tokens = plan(math.min(available, tpm), prompt, max_output, default_output)
  if not tokens then
    save_counters(KEYS[1], c)
    return {4, 2, tpm, max_output and prompt + max_output or prompt}
  end
end
if rpm == 0 then
  save_counters(KEYS[1], c)
  return {4, 1, 0, 1}
end

-- GCRA, "limit per minute" = burst `limit`, one cell back every 60/limit s. Times in µs.
-- Returns allowed, new TAT, retry (µs), remaining cells, time until full (µs).
local function gcra(key, limit, n)
  local t = 60000000 / limit
  local tat = tonumber(redis.call('GET', key)) or 0
  if tat < now_us then tat = now_us end
  local new_tat = tat + n * t
  local allow_at = new_tat - limit * t
  if allow_at - now_us > 0.5 then
    local free = math.floor((limit * t - (tat - now_us)) / t + 0.001)
    return false, tat, allow_at - now_us, math.max(0, free), tat - now_us
  end
  local free = math.floor((limit * t - (new_tat - now_us)) / t + 0.001)
  return true, new_tat, 0, math.max(0, math.min(limit, free)), new_tat - now_us
end

local req = {-1, 0, 0}
local tok = {-1, 0, 0}
local ok_r, tat_r, retry_r = true, nil, 0
local ok_t, tat_t, retry_t = true, nil, 0
if rpm then
  local rem, reset
  ok_r, tat_r, retry_r, rem, reset = gcra(KEYS[4], rpm, 1)
  req = {rpm, rem, math.ceil(reset)}
end
if tpm then
  local rem, reset
  ok_t, tat_t, retry_t, rem, reset = gcra(KEYS[5], tpm, tokens)
  tok = {tpm, rem, math.ceil(reset)}
end
if not (ok_r and ok_t) then
  save_counters(KEYS[1], c)
  -- Report the bucket that frees up last: the request passes only when both do.
  local kind, limit, retry = 1, rpm, retry_r
  if retry_t > retry_r then kind, limit, retry = 2, tpm, retry_t end
  return {3, kind, limit, math.ceil(retry), req[1], req[2], req[3], tok[1], tok[2], tok[3]}
end

-- Granted: record everything.
if rpm then
  redis.call('SET', KEYS[4], string.format('%.3f', tat_r), 'PX', math.ceil((tat_r - now_us) / 1000) + 1000)
end
if tpm and tokens > 0 then
  redis.call('SET', KEYS[5], string.format('%.3f', tat_t), 'PX', math.ceil((tat_t - now_us) / 1000) + 1000)
end
c.r = c.r + tokens
save_counters(KEYS[1], c)
redis.call('HSET', KEYS[1], 'tier', tier)
redis.call('HSET', KEYS[2], id, month .. '|' .. int(tokens) .. '|R')
redis.call('ZADD', KEYS[3], int(now_ms + ttl_ms), id)
touch_reservations(KEYS[2], KEYS[3], ttl_ms)
local remaining = monthly and math.max(0, monthly - c.u - c.r) or -1
return {1, tokens, month, remaining, req[1], req[2], req[3], tok[1], tok[2], tok[3]}
