//! Property-based fuzzing of the quota arithmetic on arbitrary numbers, `u64::MAX` edges included:
//! no overflow panics, and the reservation rules hold. See `docs/fuzzing.md`.

use proptest::prelude::*;
use sluice_policies::quota::{month_of, next_month_start, plan_reservation, prompt_estimate, size_reservation, Sizing};

/// `n` cases per property, unless `PROPTEST_CASES` asks for a longer session.
fn cases(n: u32) -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig { cases: n, ..config }
    }
}

fn n() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..10_000, Just(u64::MAX), Just(u64::MAX - 1), Just(u64::MAX / 2), Just(1 << 53), any::<u64>(),]
}

proptest! {
    #![proptest_config(cases(4096))]

    #[test]
    fn plan_reservation_fits_what_is_available(
        available in n(), prompt in n(), max_output in prop::option::of(n()), default_output in n(),
    ) {
        match plan_reservation(available, prompt, max_output, default_output) {
            Some(tokens) => {
                prop_assert!(tokens <= available && tokens >= prompt);
                if let Some(max) = max_output {
                    prop_assert_eq!(Some(tokens), prompt.checked_add(max));
                }
            }
            None => prop_assert!(
                prompt > available || max_output.is_some_and(|m| prompt.checked_add(m).is_none_or(|w| w > available))
            ),
        }
    }

    #[test]
    fn size_reservation_never_overflows(
        quota in prop::option::of(n()), tpm in prop::option::of(n()), prompt in n(),
        max_output in prop::option::of(n()), default_output in n(),
    ) {
        match size_reservation(quota, tpm, prompt, max_output, default_output) {
            Sizing::Fits(tokens) => {
                prop_assert!(tokens >= prompt);
                prop_assert!(quota.is_none_or(|q| tokens <= q) && tpm.is_none_or(|t| tokens <= t));
            }
            // Without a quota only an overflowing prompt + max_output refuses (by design: the
            // Redis store's Lua copy refuses past 2^53 alike).
            Sizing::QuotaExhausted => prop_assert!(
                quota.is_some() || max_output.is_some_and(|m| prompt.checked_add(m).is_none())
            ),
            Sizing::TooLargeForTokensPerMinute { requested } => {
                prop_assert!(tpm.is_some_and(|t| requested > t || prompt > t), "{requested}");
            }
        }
    }

    #[test]
    fn months_are_well_formed(secs in n()) {
        let month = month_of(secs);
        let (year, mm) = month.split_once('-').unwrap();
        prop_assert!(year.len() >= 4 && year.parse::<u64>().unwrap() >= 1970, "{month}");
        prop_assert!((1..=12).contains(&mm.parse::<u32>().unwrap()) && mm.len() == 2, "{month}");
        let next = next_month_start(secs);
        prop_assert!(next > secs || next == u64::MAX, "{secs} → {next}");
        if next != u64::MAX {
            prop_assert_ne!(month_of(next), month.clone());
            prop_assert_eq!(month_of(next - 1), month);
        }
    }

    #[test]
    fn prompt_estimate_is_an_upper_bound(bytes in any::<usize>(), per in any::<f64>()) {
        let tokens = prompt_estimate(bytes, per);
        prop_assert!(bytes == 0 || tokens >= 1);
    }
}

/// The month holding `u64::MAX` seconds has no representable next start: it saturated instead of
/// overflowing `days * 86_400`.
#[test]
fn next_month_start_saturates_at_the_end_of_time() {
    assert_eq!(next_month_start(u64::MAX), u64::MAX);
    let month = month_of(u64::MAX);
    assert_eq!(month.as_bytes()[month.len() - 3], b'-', "{month}");
}
