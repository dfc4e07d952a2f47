//! Quota arithmetic: plan limits, how many tokens a request reserves, and calendar months (UTC).
//!
//! Owns the pure numbers behind reserve → settle → release, so both stores (and the Redis Lua
//! scripts, which mirror [`size_reservation`] and the month functions) decide the same way. It never
//! holds state, reads a clock or does I/O: callers pass what is available and what time it is.

/// Limits that apply to one (tenant, end user). `None` = unlimited.
///
/// The proxy builds one per request from the plan tier and any per-user override; the store
/// enforces it atomically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Tokens per calendar month (UTC).
    pub monthly_tokens: Option<u64>,
    /// Requests per minute: a burst of N, refilled evenly (one every 60/N s).
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute (charged with the reservation estimate): a burst of N, refilled evenly.
    pub tokens_per_minute: Option<u64>,
}

/// The default for [`prompt_estimate`]'s `bytes_per_token`: an upper bound for English and code
/// with the common BPE encodings, cheap enough for every request.
pub const DEFAULT_BYTES_PER_TOKEN: f64 = 3.0;

/// Cheap upper bound of a prompt's tokens: ceil(bytes / bytes_per_token).
///
/// Used instead of a tokenizer pass on the hot path. A non-positive or non-finite
/// `bytes_per_token` falls back to [`DEFAULT_BYTES_PER_TOKEN`].
pub fn prompt_estimate(prompt_bytes: usize, bytes_per_token: f64) -> u64 {
    let per =
        if bytes_per_token.is_finite() && bytes_per_token > 0.0 { bytes_per_token } else { DEFAULT_BYTES_PER_TOKEN };
    // `as` saturates for floats; prompt sizes are far below 2^53 so the division is exact enough.
    (prompt_bytes as f64 / per).ceil() as u64
}

/// How many tokens to reserve, given what is `available`: prompt estimate + `max_output` when the
/// client gave one (`None` → refuse if it doesn't fit), else `default_output` cut down to what
/// remains after the prompt (refuse only if the prompt estimate alone doesn't fit).
///
/// `None` means refuse. This is what makes "never refuse a request whose estimate fits" hold.
pub fn plan_reservation(
    available: u64,
    prompt_estimate: u64,
    max_output: Option<u64>,
    default_output: u64,
) -> Option<u64> {
    match max_output {
        Some(max) => {
            let want = prompt_estimate.checked_add(max)?;
            (want <= available).then_some(want)
        }
        None => {
            let room = available.checked_sub(prompt_estimate)?;
            Some(prompt_estimate + default_output.min(room))
        }
    }
}

/// Outcome of [`size_reservation`]: the reservation that fits both the monthly quota and the
/// tokens-per-minute bucket's capacity, or which of the two can never take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizing {
    /// Reserve this many tokens (and charge them to tokens/min).
    Fits(u64),
    /// The monthly quota (what is left of it) cannot take the request.
    QuotaExhausted,
    /// The tokens/min limit is smaller than the request could ever be (`requested` tokens).
    TooLargeForTokensPerMinute {
        /// What the request needs at least: prompt + max_output, or the prompt alone.
        requested: u64,
    },
}

/// Sizes a reservation against the quota still available (`None` = unlimited) and the
/// tokens-per-minute capacity (`None` = unlimited): [`plan_reservation`] against the quota first,
/// then, if that exceeds the per-minute capacity, the default output is cut down to fit it too.
///
/// Both stores call this (the Redis scripts carry a Lua copy), so they refuse alike.
pub fn size_reservation(
    quota_available: Option<u64>,
    tokens_per_minute: Option<u64>,
    prompt_estimate: u64,
    max_output: Option<u64>,
    default_output: u64,
) -> Sizing {
    let available = quota_available.unwrap_or(u64::MAX);
    let Some(tokens) = plan_reservation(available, prompt_estimate, max_output, default_output) else {
        return Sizing::QuotaExhausted;
    };
    match tokens_per_minute {
        Some(tpm) if tokens > tpm => {
            match plan_reservation(available.min(tpm), prompt_estimate, max_output, default_output) {
                Some(cut) => Sizing::Fits(cut),
                None => Sizing::TooLargeForTokensPerMinute {
                    requested: max_output.map_or(prompt_estimate, |m| prompt_estimate.saturating_add(m)),
                },
            }
        }
        _ => Sizing::Fits(tokens),
    }
}

const SECS_PER_DAY: u64 = 86_400;

/// Calendar month (UTC) of a unix time as "YYYY-MM".
///
/// The month a reservation is made in is the month it settles into.
pub fn month_of(unix_secs: u64) -> String {
    let (y, m) = civil_from_days(unix_secs / SECS_PER_DAY);
    format!("{y:04}-{m:02}")
}

/// The unix time (seconds) the calendar month (UTC) after the one containing `unix_secs` starts:
/// when a monthly quota resets.
pub fn next_month_start(unix_secs: u64) -> u64 {
    let (y, m) = civil_from_days(unix_secs / SECS_PER_DAY);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    // Saturates for the last month `u64` seconds reach into.
    days_from_civil(ny, nm).saturating_mul(SECS_PER_DAY)
}

/// (year, month) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`, for
/// non-negative days; the Lua scripts use the same algorithm).
fn civil_from_days(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month)
}

/// Days since 1970-01-01 of the first day of (year, month), year ≥ 1970.
fn days_from_civil(year: u64, month: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_estimate_rounds_up() {
        assert_eq!(prompt_estimate(0, 3.0), 0);
        assert_eq!(prompt_estimate(1, 3.0), 1);
        assert_eq!(prompt_estimate(3, 3.0), 1);
        assert_eq!(prompt_estimate(4, 3.0), 2);
        assert_eq!(prompt_estimate(10, 2.5), 4);
        assert_eq!(prompt_estimate(7, 0.0), 3, "bad ratio falls back to the default");
        assert_eq!(prompt_estimate(7, f64::NAN), 3);
    }

    #[test]
    fn plan_with_max_output_needs_all_of_it() {
        assert_eq!(plan_reservation(100, 30, Some(70), 500), Some(100));
        assert_eq!(plan_reservation(100, 30, Some(71), 500), None);
        assert_eq!(plan_reservation(100, 0, Some(0), 500), Some(0));
        assert_eq!(plan_reservation(u64::MAX, 2, Some(u64::MAX), 0), None, "overflow refuses");
    }

    #[test]
    fn plan_without_max_output_cuts_the_default() {
        assert_eq!(plan_reservation(1000, 30, None, 500), Some(530));
        assert_eq!(plan_reservation(100, 30, None, 500), Some(100), "cut to what remains");
        assert_eq!(plan_reservation(30, 30, None, 500), Some(30), "prompt alone still fits");
        assert_eq!(plan_reservation(29, 30, None, 500), None);
        assert_eq!(plan_reservation(0, 0, None, 500), Some(0));
    }

    #[test]
    fn sizing_checks_quota_then_tokens_per_minute() {
        assert_eq!(size_reservation(None, None, 10, None, 100), Sizing::Fits(110));
        assert_eq!(size_reservation(Some(5), None, 10, None, 100), Sizing::QuotaExhausted);
        assert_eq!(size_reservation(None, Some(50), 10, None, 100), Sizing::Fits(50));
        assert_eq!(size_reservation(Some(30), Some(50), 10, None, 100), Sizing::Fits(30));
        assert_eq!(
            size_reservation(None, Some(50), 10, Some(41), 100),
            Sizing::TooLargeForTokensPerMinute { requested: 51 }
        );
        assert_eq!(
            size_reservation(None, Some(5), 10, None, 100),
            Sizing::TooLargeForTokensPerMinute { requested: 10 }
        );
        assert_eq!(size_reservation(None, Some(50), 10, Some(40), 100), Sizing::Fits(50));
    }

    #[test]
    fn months_and_their_ends() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(next_month_start(0), 2_678_400);
        // 2024-12-31T23:59:59Z → December; next month is 2025-01-01T00:00:00Z.
        assert_eq!(month_of(1_735_689_599), "2024-12");
        assert_eq!(next_month_start(1_735_689_599), 1_735_689_600);
        assert_eq!(month_of(1_735_689_600), "2025-01");
        assert_eq!(next_month_start(1_735_689_600), 1_738_368_000); // 2025-02-01
    }

    #[test]
    fn leap_years() {
        // 2024-02-29T12:00:00Z is in a leap February; March starts 2024-03-01.
        assert_eq!(month_of(1_709_208_000), "2024-02");
        assert_eq!(next_month_start(1_709_208_000), 1_709_251_200);
        assert_eq!(month_of(1_709_251_200), "2024-03");
        // 2023-02-28T23:59:59Z → February of a common year; March starts a day earlier.
        assert_eq!(month_of(1_677_628_799), "2023-02");
        assert_eq!(next_month_start(1_677_628_799), 1_677_628_800);
        // 2000 is a leap year (divisible by 400), 2100 is not.
        assert_eq!(next_month_start(951_782_400), 951_868_800); // 2000-02-29 → 2000-03-01
        assert_eq!(month_of(4_107_542_400), "2100-03"); // 2100-03-01, no Feb 29th before it
        assert_eq!(month_of(4_107_542_399), "2100-02");
    }

    #[test]
    fn every_month_start_roundtrips() {
        // Walk month starts for 200 years: each is the previous one's next_month_start.
        let mut t = 0;
        for i in 0..2400u64 {
            let (y, m) = (1970 + i / 12, i % 12 + 1);
            assert_eq!(month_of(t), format!("{y:04}-{m:02}"));
            let next = next_month_start(t);
            assert_eq!(next_month_start(next - 1), next);
            assert_ne!(month_of(next - 1), month_of(next));
            t = next;
        }
    }
}
