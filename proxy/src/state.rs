//! Process-wide state shared by every request: the live config and the metrics.
//!
//! Architecture invariant: state that must survive a reload (metrics now; quota counters and
//! breakers in later issues) lives here, never inside a [`Config`] snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::accounting::Accounting;
use crate::caching::Caching;
use crate::config::live::LiveConfig;
use crate::config::Config;
use crate::telemetry::metrics::Metrics;

/// Shared by all services and background tasks.
pub struct AppState {
    /// Current config snapshot, swapped on reload.
    pub live: LiveConfig,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Quota store and usage ledger.
    pub accounting: Arc<Accounting>,
    /// Response cache and single flight (survive reloads; capacity and Redis are restart-only).
    pub caching: Caching,
    /// Circuit breakers by `provider/model` (per instance; survive reloads).
    pub breakers: sluice_policies::breaker::Breakers,
    /// Open micro-batches of embedding inputs (survive reloads; keyed by route and upstream model).
    pub embedding_batches: crate::pipeline::embeddings::EmbeddingBatcher,
    /// Pacers by provider name (survive reloads; reconfigured in place).
    pacers: std::sync::Mutex<std::collections::HashMap<String, sluice_policies::pacing::Pacer>>,
    access_log: AtomicBool,
    draining: AtomicBool,
}

impl AppState {
    /// Wraps an initial config and the accounting backends built for it.
    pub fn new(
        config: Config,
        path: Option<std::path::PathBuf>,
        accounting: Arc<Accounting>,
        caching: Caching,
    ) -> Result<Arc<AppState>, prometheus::Error> {
        let metrics = Metrics::new()?;
        metrics.config_version.set(1);
        metrics.store_up.with_label_values(&[accounting.store.backend()]).set(1);
        let access_log = AtomicBool::new(config.log.access_log);
        Ok(Arc::new(AppState {
            live: LiveConfig::new(config, path),
            metrics: Arc::new(metrics),
            accounting,
            caching,
            access_log,
            draining: AtomicBool::new(false),
            breakers: sluice_policies::breaker::Breakers::new(),
            embedding_batches: crate::pipeline::embeddings::EmbeddingBatcher::new(),
            pacers: std::sync::Mutex::new(std::collections::HashMap::new()),
        }))
    }

    /// The snapshot a new request should use.
    pub fn config(&self) -> Arc<Config> {
        self.live.current()
    }

    /// Whether access-log lines are written (follows the config on reload).
    pub fn access_log_enabled(&self) -> bool {
        self.access_log.load(Ordering::Relaxed)
    }

    /// Shutdown has begun: readiness fails and connections are not kept alive.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The pacer of a provider with limits (created on first use, reconfigured when its limits
    /// change); `None` for providers without limits.
    pub fn pacer(&self, provider: &crate::config::Provider) -> Option<sluice_policies::pacing::Pacer> {
        let config = provider.pacing?;
        let mut pacers = self.pacers.lock().ok()?;
        let pacer = pacers.entry(provider.name.clone()).or_insert_with(|| sluice_policies::pacing::Pacer::new(config));
        Some(pacer.clone())
    }

    /// Applies the reload-able process-wide switches of a new config.
    pub fn apply(&self, config: &Config) {
        self.access_log.store(config.log.access_log, Ordering::Relaxed);
        // Pacers keep their in-flight count and queue; only their limits change.
        if let Ok(pacers) = self.pacers.lock() {
            for (name, pacer) in pacers.iter() {
                if let Some(cfg) = config.providers.get(name).and_then(|p| p.pacing) {
                    pacer.reconfigure(cfg);
                }
            }
        }
    }
}
