-- Rolls back a user admit whose tenant part refused: gives the reservation back and returns the
-- per-minute cells it charged (TAT - n·T; a TAT that falls behind now means a full bucket).
-- KEYS: 1 counters hash, 2 reservation hash, 3 reservation expiry zset, 4 requests TAT, 5 tokens TAT
-- ARGV: 1 id, 2 requests/min|'', 3 tokens/min|''
-- Returns 1 if something was rolled back, 0 if the reservation was already gone.
local id, rpm, tpm = ARGV[1], opt(ARGV[2]), opt(ARGV[3])
local v = redis.call('HGET', KEYS[2], id)
if not v then return 0 end
local month, tokens, state = parse_record(v)
if state ~= 'R' then return 0 end
local c = load_counters(KEYS[1])
settle_counters(c, month, tokens, 0)
save_counters(KEYS[1], c)
redis.call('HDEL', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
local now_us = server_now()
local function give_back(key, limit, n)
  local tat = tonumber(redis.call('GET', key))
  if not tat or n == 0 then return end
  tat = tat - n * 60000000 / limit
  if tat <= now_us then
    redis.call('DEL', key)
  else
    redis.call('SET', key, string.format('%.3f', tat), 'KEEPTTL')
  end
end
if rpm and rpm > 0 then give_back(KEYS[4], rpm, 1) end
if tpm and tpm > 0 then give_back(KEYS[5], tpm, tokens) end
return 1
