//! Test rig: a mock upstream (in process) and the real `sluice` binary, on free loopback ports.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_mock_upstream::{MockOptions, MockUpstream};

/// The gateway key tests use.
pub const KEY: &str = "sk-sluice-test-key-0001";
/// A second tenant's key.
pub const OTHER_KEY: &str = "sk-sluice-test-key-0002";
/// The admin API key.
pub const ADMIN_KEY: &str = "sk-admin-test-key-0001";
/// Sluice's own upstream credentials (what the mock expects).
pub const OPENAI_UPSTREAM_KEY: &str = "sk-upstream-openai-secret";
/// Workers AI token.
pub const CF_UPSTREAM_KEY: &str = "cf-upstream-token-secret";

/// Models and providers every test config has; `{openai}`/`{cf}` are the mock's base URLs.
pub const BASE_CONFIG: &str = r#"
[server]
listen = ["{listen}"]
threads = 2
graceful_shutdown_timeout = "10s"
upgrade_sock = "{dir}/upgrade.sock"

[timeouts]
first_byte = "5s"
idle = "5s"

[log]
level = "info"

[ledger]
file = "{dir}/ledger.jsonl"
spool = "{dir}/ledger.spool"

[providers.openai]
kind = "openai"
base_url = "{openai}"
api_key = "${TEST_OPENAI_KEY}"

[providers.workers-ai]
kind = "cloudflare"
base_url = "{cf}"
api_key = "${TEST_CF_KEY}"

[models."gpt-4o"]
context_window = 128000
max_output_tokens = 16384
candidates = [{ provider = "openai", model = "gpt-4o" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."gpt-4o-mini"]
candidates = [{ provider = "openai", model = "gpt-4o-mini" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."llama-3.1-8b"]
candidates = [{ provider = "workers-ai", model = "@cf/meta/llama-3.1-8b-instruct" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."llama-compat"]
candidates = [{ provider = "workers-ai", model = "@cf/meta/llama-3.3-70b-instruct-fp8-fast", api = "openai" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."text-embedding-3-small"]
kind = "embeddings"
dimensions = 768
candidates = [{ provider = "workers-ai", model = "@cf/baai/bge-base-en-v1.5" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."text-embedding-3-large"]
kind = "embeddings"
candidates = [{ provider = "openai", model = "text-embedding-3-large" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[models."bge-compat"]
kind = "embeddings"
candidates = [{ provider = "workers-ai", model = "@cf/baai/bge-base-en-v1.5", api = "openai" }]
retry = { initial_backoff = "10ms", max_backoff = "40ms" }
breaker = { consecutive_failures = 0, failure_ratio = 0 }

[admin]
key = "${TEST_ADMIN_KEY}"

[[auth.keys]]
key = "${TEST_APP_KEY}"
tenant = "acme"
tier = "pro"

[[auth.keys]]
sha256 = "{other_hash}"
tenant = "globex"
"#;

/// A running gateway plus its mock upstream.
pub struct Gateway {
    child: Option<Child>,
    /// Gateway address.
    pub addr: SocketAddr,
    /// The mock upstream.
    pub mock: MockUpstream,
    /// The config file Sluice runs with.
    pub config_path: PathBuf,
    /// Captured stdout+stderr of sluice (log lines).
    pub log_path: PathBuf,
    dir: tempfile::TempDir,
}

/// A free loopback port.
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

impl Gateway {
    /// Starts with the base config.
    pub async fn start() -> Gateway {
        Gateway::start_with("").await
    }

    /// Starts with the base config plus `extra` TOML appended.
    pub async fn start_with(extra: &str) -> Gateway {
        let mock = MockUpstream::start_with(MockOptions {
            openai_key: Some(OPENAI_UPSTREAM_KEY.to_string()),
            cloudflare_key: Some(CF_UPSTREAM_KEY.to_string()),
            ..MockOptions::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let config_path = dir.path().join("config.toml");
        let log_path = dir.path().join("sluice.log");
        let mut gw = Gateway { child: None, addr, mock, config_path, log_path, dir };
        std::fs::write(&gw.config_path, gw.render(extra)).unwrap();
        gw.spawn();
        gw.wait_ready().await;
        gw
    }

    /// The config text for this gateway with `extra` appended.
    pub fn render(&self, extra: &str) -> String {
        let other_hash = hex::encode(sluice::identity::hash_key(OTHER_KEY));
        let mut text = BASE_CONFIG.to_string();
        text.push_str(extra);
        text.replace("{listen}", &self.addr.to_string())
            .replace("{dir}", &self.dir.path().display().to_string())
            .replace("{openai}", &self.mock.openai_base_url())
            .replace("{cf}", &self.mock.cloudflare_base_url())
            .replace("{other_hash}", &other_hash)
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env("TEST_OPENAI_KEY", OPENAI_UPSTREAM_KEY)
            .env("TEST_CF_KEY", CF_UPSTREAM_KEY)
            .env("TEST_APP_KEY", KEY)
            .env("TEST_ADMIN_KEY", ADMIN_KEY)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = client();
        loop {
            if let Ok(r) = client.get(self.url("/healthz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("sluice exited early ({status}); log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "sluice did not become healthy; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything Sluice logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST JSON with the test key; returns status, headers and parsed JSON (Null if not JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap(), Some(KEY)).await
    }

    /// POST raw bytes with an optional key.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        key: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = client().post(self.url(path)).header("content-type", "application/json").body(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// GET with the admin key.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let resp = client().get(self.url(path)).bearer_auth(ADMIN_KEY).send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// The usage-ledger records written so far (single-instance file mode).
    pub fn ledger_file(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("ledger.jsonl")).unwrap_or_default();
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Waits until `n` ledger records are in the file (delivery is asynchronous, within 5 s).
    pub async fn wait_ledger_file(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(6);
        loop {
            let records = self.ledger_file();
            if records.len() >= n || Instant::now() > deadline {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of one metric sample line (`name{labels}`), or 0.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse::<f64>().ok()))
            .unwrap_or(0.0)
    }

    /// GET with the test key.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = client().get(self.url(path)).bearer_auth(KEY).send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Rewrites the config file (the watcher or SIGHUP applies it).
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join("config.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    /// Sends a signal to the sluice process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success();
        assert!(ok);
    }

    /// Whether the sluice process has exited.
    pub fn exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    /// The sluice metrics text.
    pub async fn metrics(&self) -> String {
        client().get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    /// Test env vars for child processes (SDK tests).
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SLUICE_BASE_URL", format!("http://{}/v1", self.addr)),
            ("SLUICE_API_KEY", KEY.to_string()),
            ("MOCK_URL", format!("http://{}", self.mock.addr())),
        ]
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain HTTP client for tests.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A chat body for `model` with one user message.
pub fn chat(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}
