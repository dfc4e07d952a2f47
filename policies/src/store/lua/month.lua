-- The current month on the server clock (for reading the usage indexes).
-- Returns {month, resets_at}
local _, now_s = server_now()
local month, resets_at = month_of(now_s)
return {month, resets_at}
