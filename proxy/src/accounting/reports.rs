//! Quota reports for operators and finance: periodic gauges (users by quota-use band per tier,
//! tenant cap usage, ledger health) computed from the store and the ledger, off the request path.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

/// Band label values, in the order of `Store::band_counts`.
const BANDS: [&str; 4] = ["lt50", "50to80", "80to100", "exhausted"];

/// Refreshes the report gauges every `period` until the process stops.
pub async fn refresh_loop(state: Arc<AppState>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = sluice_policies::ledger::LedgerStats::default();
    loop {
        tick.tick().await;
        refresh_once(&state).await;
        last = ledger_gauges(&state, last);
    }
}

/// One refresh of the store-derived gauges.
pub async fn refresh_once(state: &AppState) {
    let config = state.config();
    let store = &state.accounting.store;
    let m = &state.metrics;
    let mut ok = true;
    for (name, tier) in &config.tiers {
        let Some(limit) = tier.limits.monthly_tokens else { continue };
        match store.band_counts(name, limit).await {
            Ok(counts) => {
                for (band, count) in BANDS.iter().zip(counts) {
                    m.quota_users.with_label_values(&[name.as_str(), band]).set(count as i64);
                }
            }
            Err(_) => ok = false,
        }
    }
    for (name, tenant) in &config.tenants {
        let Some(cap) = tenant.monthly_tokens else { continue };
        match store.tenant_usage(name).await {
            Ok(used) => m.tenant_quota_ratio.with_label_values(&[name.as_str()]).set(used as f64 / cap as f64),
            Err(_) => ok = false,
        }
    }
    m.store_up.with_label_values(&[store.backend()]).set(i64::from(ok));
}

/// Mirrors the ledger's own counters into Prometheus (counters advance by the delta).
fn ledger_gauges(state: &AppState, last: sluice_policies::ledger::LedgerStats) -> sluice_policies::ledger::LedgerStats {
    let now = state.accounting.ledger.stats();
    let m = &state.metrics;
    for (outcome, new, old) in [
        ("delivered", now.delivered, last.delivered),
        ("spooled", now.spooled, last.spooled),
        ("replayed", now.replayed, last.replayed),
        ("duplicates_skipped", now.duplicates_skipped, last.duplicates_skipped),
    ] {
        m.ledger_records.with_label_values(&[outcome]).inc_by(new.saturating_sub(old));
    }
    m.ledger_spool_bytes.set(now.spool_bytes as i64);
    m.ledger_lag.set(now.oldest_undelivered_ms as f64 / 1000.0);
    now
}
