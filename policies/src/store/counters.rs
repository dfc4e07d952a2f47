//! Month counters of one quota holder (a (tenant, user) or a tenant): settled and reserved tokens
//! of the current month and of the previous one, with the rollover between them.
//!
//! Owns the rule "a reservation settles into the month it was made in" for the memory store; the
//! Redis scripts keep the same six fields in a hash (`lua/common.lua` mirrors this file). It never
//! reads a clock: callers pass the month.

/// Used/reserved tokens for the current month and the one before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MonthCounters {
    /// Month ("YYYY-MM") the `used`/`reserved` pair belongs to; "" before the first use.
    pub month: String,
    pub used: u64,
    pub reserved: u64,
    /// The month before `month` that still had counters when it rolled over.
    pub prev_month: String,
    pub prev_used: u64,
    pub prev_reserved: u64,
}

impl MonthCounters {
    /// Moves to `month` if it is later than the current one (the current pair becomes the
    /// previous one). "YYYY-MM" strings order like the months they name.
    pub fn roll_to(&mut self, month: &str) {
        if self.month.as_str() < month {
            self.prev_month = std::mem::replace(&mut self.month, month.to_owned());
            self.prev_used = std::mem::take(&mut self.used);
            self.prev_reserved = std::mem::take(&mut self.reserved);
        }
    }

    /// (used, reserved) of `month`: zeros for a month it no longer (or never) held.
    pub fn of(&self, month: &str) -> (u64, u64) {
        if month == self.month {
            (self.used, self.reserved)
        } else if month == self.prev_month {
            (self.prev_used, self.prev_reserved)
        } else {
            (0, 0)
        }
    }

    /// Settles a reservation of `tokens` made in `month` to `actual` tokens; returns that month's
    /// usage after (0 for a month no longer held: its counters are gone).
    pub fn settle(&mut self, month: &str, tokens: u64, actual: u64) -> u64 {
        let (used, reserved) = if month == self.month {
            (&mut self.used, &mut self.reserved)
        } else if month == self.prev_month {
            (&mut self.prev_used, &mut self.prev_reserved)
        } else {
            return 0;
        };
        *used = used.saturating_add(actual);
        *reserved = reserved.saturating_sub(tokens);
        *used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_into_the_month_of_the_reservation() {
        let mut c = MonthCounters::default();
        c.roll_to("2025-01");
        c.reserved += 100;
        c.roll_to("2025-02");
        c.reserved += 50;
        assert_eq!(c.settle("2025-01", 100, 80), 80);
        assert_eq!(c.of("2025-01"), (80, 0));
        assert_eq!(c.of("2025-02"), (0, 50));
        assert_eq!(c.settle("2025-02", 50, 10), 10);
        c.roll_to("2025-01");
        assert_eq!(c.month, "2025-02", "never rolls back");
        c.roll_to("2025-04");
        assert_eq!(c.settle("2025-01", 1, 1), 0, "too old: dropped");
        assert_eq!(c.of("2025-02"), (10, 0));
        assert_eq!(c.of("2025-04"), (0, 0));
    }
}
