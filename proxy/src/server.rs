//! Process bootstrap: Pingora server, listeners (plain with h2c, optional TLS with h2, optional
//! admin address), worker threads, graceful shutdown windows, and the config watcher.
//!
//! Everything here is fixed for the life of the process; `config.toml` changes to these settings
//! take effect through a restart or Pingora's zero-downtime upgrade (`--upgrade` + SIGQUIT).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::Opt;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};

use crate::config::live;
use crate::service::SluiceService;
use crate::state::AppState;

/// How often the config file is checked for changes.
pub const CONFIG_POLL: Duration = Duration::from_secs(1);

/// Process options from the command line.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunOptions {
    /// Take over listening sockets from a running instance (zero-downtime upgrade).
    pub upgrade: bool,
    /// Detach into the background.
    pub daemon: bool,
}

/// Builds the Pingora server for `state`'s config. Call `run_forever` on the result.
pub fn build(state: Arc<AppState>, opts: RunOptions) -> anyhow::Result<Server> {
    let config = state.config();
    let s = &config.server;
    let conf = ServerConf {
        threads: s.threads,
        grace_period_seconds: Some(s.grace_period.as_secs()),
        // Sluice drains before Pingora shuts its runtimes (DrainingSignals); this only bounds the
        // runtime shutdown itself.
        graceful_shutdown_timeout_seconds: Some(5),
        upgrade_sock: s.upgrade_sock.clone(),
        pid_file: format!("{}.pid", s.upgrade_sock.trim_end_matches(".sock")),
        daemon: opts.daemon,
        ..ServerConf::default()
    };
    let opt = Opt { upgrade: opts.upgrade, daemon: opts.daemon, ..Opt::default() };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut api = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        SluiceService::api(state.clone()),
        "sluice-api",
    );
    if let Some(app) = api.app_logic_mut() {
        let mut options = HttpServerOptions::default();
        options.h2c = s.h2c;
        app.server_options = Some(options);
    }
    for addr in &s.listen {
        api.add_listener(
            pingora::listeners::ListenerConfig::tcp(addr.as_str())
                .l4_buffer(pingora::listeners::L4BufferSettings::default().read(s.read_buffer)),
        );
    }
    if let Some(tls) = &s.tls {
        for addr in &tls.listen {
            let mut settings = TlsSettings::intermediate(&tls.cert_path, &tls.key_path)
                .map_err(|e| anyhow::anyhow!("TLS certificate or key unusable: {e}"))?;
            settings.enable_h2();
            api.add_tls_with_settings(addr, None, settings);
        }
    }
    server.add_service(api);

    if let Some(addr) = &s.admin_listen {
        let mut admin = pingora::proxy::http_proxy_service_with_name(
            &server.configuration,
            SluiceService::admin(state.clone()),
            "sluice-admin",
        );
        admin.add_tcp(addr);
        server.add_service(admin);
    }
    server.add_service(background_service("config-watcher", ConfigWatcher { state: state.clone() }));
    server.add_service(background_service("ledger-drain", LedgerDrain { state }));
    Ok(server)
}

/// How often deferred settlements are retried.
pub const SETTLE_RETRY: Duration = Duration::from_millis(500);
/// How often the quota-report gauges are refreshed.
pub const REPORT_REFRESH: Duration = Duration::from_secs(15);

/// Starts the accounting background tasks on the state runtime.
pub fn spawn_state_tasks(runtime: &tokio::runtime::Runtime, state: &Arc<AppState>) {
    runtime.spawn(state.accounting.clone().retry_pending(state.metrics.clone(), SETTLE_RETRY));
    runtime.spawn(crate::accounting::reports::refresh_loop(state.clone(), REPORT_REFRESH));
}

/// Sluice's own signal handling for Pingora. On SIGTERM it first *drains*: `/readyz` turns 503,
/// responses close their connections, and it waits until no request is in flight (bounded by
/// `server.graceful_shutdown_timeout`), then flushes the usage ledger — and only then lets
/// Pingora stop its listeners and runtimes (Pingora drops in-flight tasks when it shuts its
/// runtimes down, so the drain must happen before). SIGQUIT hands the listeners to a new process
/// (zero-downtime upgrade; in-flight requests then run for `server.grace_period`); SIGINT stops
/// fast after a short ledger flush.
pub struct DrainingSignals {
    /// Shared state: in-flight gauge, ledger, drain flag.
    pub state: Arc<AppState>,
}

#[async_trait]
impl pingora::server::ShutdownSignalWatch for DrainingSignals {
    async fn recv(&self) -> pingora::server::ShutdownSignal {
        use pingora::server::ShutdownSignal;
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut quit), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::quit()), signal(SignalKind::interrupt()))
        else {
            tracing::error!("cannot install signal handlers; stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = quit.recv() => return ShutdownSignal::GracefulUpgrade,
            _ = int.recv() => {
                self.state.accounting.ledger.close(Duration::from_secs(2)).await;
                return ShutdownSignal::FastShutdown;
            }
            _ = term.recv() => {}
        }
        tracing::info!(in_flight = self.state.metrics.in_flight.get(), "SIGTERM: draining in-flight requests");
        self.state.start_draining();
        drain_then_flush_ledger(&self.state).await;
        ShutdownSignal::GracefulTerminate
    }
}

/// On shutdown: waits for in-flight requests to finish (bounded by the drain window), then
/// flushes the usage ledger, so nothing accounted is lost.
struct LedgerDrain {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for LedgerDrain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let _ = shutdown.changed().await;
        drain_then_flush_ledger(&self.state).await;
    }
}

/// Waits until no request is in flight (at most `server.graceful_shutdown_timeout`), then
/// flushes the usage ledger. Shared by the SIGTERM drain and the upgrade hand-over.
async fn drain_then_flush_ledger(state: &AppState) {
    let deadline = tokio::time::Instant::now() + state.config().server.graceful_shutdown_timeout;
    while state.metrics.in_flight.get() > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(in_flight = state.metrics.in_flight.get(), "drain window over; cutting the rest");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.accounting.ledger.close(Duration::from_secs(10)).await;
    tracing::info!(stats = ?state.accounting.ledger.stats(), "drained; usage ledger flushed");
}

/// Reloads the config on SIGHUP and on file change.
struct ConfigWatcher {
    state: Arc<AppState>,
}

#[async_trait]
impl BackgroundService for ConfigWatcher {
    async fn start(&self, shutdown: ShutdownWatch) {
        live::watch(self.state.clone(), CONFIG_POLL, shutdown).await;
    }
}
