//! The live config: an atomically swapped snapshot, and the reload triggers (SIGHUP, file change).
//!
//! A reload builds the new snapshot off the request path and swaps it in one atomic store. Requests
//! already running keep the `Arc<Config>` they started with, so streams in flight finish on the old
//! routes. An invalid file is rejected with a log line and the old snapshot keeps serving. Settings
//! that a running process cannot change (listen addresses, TLS, threads) are reported and ignored
//! until a restart.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::{load_file, Config, Problems};
use crate::state::AppState;

/// The current snapshot plus where it came from.
pub struct LiveConfig {
    current: ArcSwap<Config>,
    path: Option<PathBuf>,
    /// Fingerprint of the file last seen by the watcher (mtime, length).
    seen: Mutex<Option<(SystemTime, u64)>>,
}

/// What a successful reload changed.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Restart-only settings that differ from the running ones (ignored until restart).
    pub needs_restart: Vec<&'static str>,
}

impl LiveConfig {
    /// Starts with `config`, loaded from `path` (if any).
    pub fn new(config: Config, path: Option<PathBuf>) -> LiveConfig {
        let seen = path.as_ref().and_then(|p| fingerprint(p));
        LiveConfig { current: ArcSwap::from_pointee(config), path, seen: Mutex::new(seen) }
    }

    /// The current snapshot (one atomic increment).
    pub fn current(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// Swaps in a new snapshot, keeping restart-only settings as they are.
    pub fn swap(&self, mut config: Config) -> ReloadReport {
        let old = self.current();
        let mut report = ReloadReport::default();
        let (o, n) = (&old.server, &config.server);
        if o.listen != n.listen {
            report.needs_restart.push("server.listen");
        }
        if o.tls != n.tls {
            report.needs_restart.push("server.tls");
        }
        if o.threads != n.threads {
            report.needs_restart.push("server.threads");
        }
        if o.h2c != n.h2c {
            report.needs_restart.push("server.h2c");
        }
        if o.admin_listen != n.admin_listen {
            report.needs_restart.push("metrics.admin_listen");
        }
        if o.grace_period != n.grace_period || o.graceful_shutdown_timeout != n.graceful_shutdown_timeout {
            report.needs_restart.push("server.grace_period/graceful_shutdown_timeout");
        }
        if o.upgrade_sock != n.upgrade_sock {
            report.needs_restart.push("server.upgrade_sock");
        }
        let (os, ns) = (&old.store, &config.store);
        if os.backend != ns.backend || os.key_prefix != ns.key_prefix || os.timeout != ns.timeout {
            report.needs_restart.push("store.backend/redis_url/key_prefix/timeout");
        }
        if old.ledger != config.ledger {
            report.needs_restart.push("ledger");
        }
        if old.log.level != config.log.level {
            report.needs_restart.push("log.level");
        }
        // The running process keeps its listeners, store and ledger: record what it runs with.
        let body_limit = config.server.body_limit;
        config.server = old.server.clone();
        config.server.body_limit = body_limit;
        config.store.backend = old.store.backend.clone();
        config.store.key_prefix = old.store.key_prefix.clone();
        config.store.timeout = old.store.timeout;
        config.ledger = old.ledger.clone();
        self.current.store(Arc::new(config));
        report
    }

    /// Re-reads the file and swaps it in when valid.
    pub fn reload_from_file(&self) -> Result<ReloadReport, Problems> {
        let Some(path) = &self.path else {
            let mut p = Problems::default();
            p.push("", "no config file to reload");
            return Err(p);
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = fingerprint(path);
        }
        let config = load_file(path)?;
        Ok(self.swap(config))
    }

    /// True when the file changed since it was last read.
    fn file_changed(&self) -> bool {
        let Some(path) = &self.path else { return false };
        let now = fingerprint(path);
        match self.seen.lock() {
            Ok(seen) => now.is_some() && *seen != now,
            Err(_) => false,
        }
    }
}

fn fingerprint(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reloads and logs the outcome; counted in `sluice_config_reloads_total`.
pub fn reload(state: &AppState, trigger: &str) {
    match state.live.reload_from_file() {
        Ok(report) => {
            let config = state.config();
            state.apply(&config);
            state.metrics.config_reloads.with_label_values(&["applied"]).inc();
            state.metrics.config_version.inc();
            tracing::info!(trigger, models = config.models.len(), "config reloaded");
            for w in &config.warnings {
                tracing::warn!(warning = %w, "config warning");
            }
            if !report.needs_restart.is_empty() {
                tracing::warn!(settings = ?report.needs_restart, "config changes ignored until restart");
            }
        }
        Err(problems) => {
            state.metrics.config_reloads.with_label_values(&["rejected"]).inc();
            tracing::error!(trigger, problems = %problems, "config reload rejected; the previous config keeps serving");
        }
    }
}

/// Watches for SIGHUP and file changes until shutdown. Runs as a Pingora background service.
pub async fn watch(state: Arc<AppState>, poll: Duration, mut shutdown: pingora::server::ShutdownWatch) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reload on file change only");
            None
        }
    };
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = async { match hangup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => {
                reload(&state, "sighup");
            }
            _ = tick.tick() => {
                if state.live.file_changed() {
                    reload(&state, "file_change");
                }
            }
        }
    }
}
