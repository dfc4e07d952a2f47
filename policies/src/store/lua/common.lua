-- Shared helpers, prepended to every script by store/redis.rs (concat!). Mirrors quota.rs
-- (months, plan_reservation, size_reservation) and store/counters.rs (month counters) so both
-- stores decide alike. Numbers are Lua doubles: exact for integers below 2^53.

-- Server clock: microseconds and whole seconds since the unix epoch.
local function server_now()
  local t = redis.call('TIME')
  local secs = tonumber(t[1])
  return secs * 1000000 + tonumber(t[2]), secs
end

-- Howard Hinnant's civil_from_days: (year, month) of a day count since 1970-01-01.
local function civil_from_days(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400
  if month <= 2 then year = year + 1 end
  return year, month
end

-- Days since 1970-01-01 of the first day of (year, month).
local function days_from_civil(year, month)
  local y = month <= 2 and year - 1 or year
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = month > 2 and month - 3 or month + 9
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + math.floor((153 * mp + 2) / 5)
  return era * 146097 + doe - 719468
end

-- "YYYY-MM" of a unix time, and the unix time the next month starts.
local function month_of(secs)
  local y, m = civil_from_days(math.floor(secs / 86400))
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return string.format('%04d-%02d', y, m), days_from_civil(ny, nm) * 86400
end

local function int(x) return string.format('%.0f', x) end

-- plan_reservation: nil = refuse.
local function plan(available, prompt, max_output, default_output)
  if max_output then
    if prompt + max_output <= available then return prompt + max_output end
    return nil
  end
  if prompt > available then return nil end
  return prompt + math.min(default_output, available - prompt)
end

local function opt(arg) if arg == '' then return nil end return tonumber(arg) end

-- Month counters (hash fields m/u/r = month/used/reserved, pm/pu/pr = the previous month's).
local function load_counters(key)
  local v = redis.call('HMGET', key, 'm', 'u', 'r', 'pm', 'pu', 'pr')
  return { m = v[1] or '', u = tonumber(v[2]) or 0, r = tonumber(v[3]) or 0,
           pm = v[4] or '', pu = tonumber(v[5]) or 0, pr = tonumber(v[6]) or 0 }
end

local function roll_to(c, month)
  if c.m < month then
    c.pm, c.pu, c.pr = c.m, c.u, c.r
    c.m, c.u, c.r = month, 0, 0
  end
end

-- Counter hashes outlive the month after theirs (settles into the previous month, admin reads).
local COUNTERS_TTL_SECS = 70 * 86400

local function save_counters(key, c)
  redis.call('HSET', key, 'm', c.m, 'u', int(c.u), 'r', int(c.r), 'pm', c.pm, 'pu', int(c.pu), 'pr', int(c.pr))
  redis.call('EXPIRE', key, COUNTERS_TTL_SECS)
end

-- Settles a reservation of `tokens` made in `month` to `actual`; returns that month's usage after.
local function settle_counters(c, month, tokens, actual)
  if month == c.m then
    c.u = c.u + actual; c.r = math.max(0, c.r - tokens); return c.u
  elseif month == c.pm then
    c.pu = c.pu + actual; c.pr = math.max(0, c.pr - tokens); return c.pu
  end
  return 0
end

-- Reservation records: hash id -> "month|tokens|R" (held) or "month|0|S" (swept tombstone),
-- plus a sorted set id -> expiry (ms).
local function parse_record(v)
  local month, tokens, state = string.match(v, '^([^|]*)|(%d+)|(%a)$')
  return month, tonumber(tokens), state
end

-- Gives back expired reservations (keeping a tombstone one more TTL, so a late settle still
-- counts its usage) and forgets expired tombstones; at most 32 per call.
local function sweep(c, res, resx, now_ms, ttl_ms)
  local ids = redis.call('ZRANGEBYSCORE', resx, '-inf', int(now_ms), 'LIMIT', 0, 32)
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', res, id)
    local month, tokens, state
    if v then month, tokens, state = parse_record(v) end
    if state == 'R' then
      settle_counters(c, month, tokens, 0)
      redis.call('HSET', res, id, month .. '|0|S')
      redis.call('ZADD', resx, int(now_ms + ttl_ms), id)
    else
      redis.call('HDEL', res, id)
      redis.call('ZREM', resx, id)
    end
  end
end

-- Keeps the reservation keys alive while they may hold something (two TTLs plus a minute).
local function touch_reservations(res, resx, ttl_ms)
  redis.call('PEXPIRE', res, int(2 * ttl_ms + 60000))
  redis.call('PEXPIRE', resx, int(2 * ttl_ms + 60000))
end
