//! Start-up options of the mock server. Owns nothing at run time: the server copies what it needs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How a [`crate::MockUpstream`] is started.
///
/// Every field has a default, so `MockOptions::default()` (or `{}` as JSON) gives an open server on
/// `127.0.0.1:0` that accepts any key, with account `test-account`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockOptions {
    /// Address to bind; `None` means `127.0.0.1:0` (a free port picked by the OS).
    pub addr: Option<SocketAddr>,
    /// When set, `/v1/*` calls must send `Authorization: Bearer <this>` or get a 401 `invalid_api_key`.
    pub openai_key: Option<String>,
    /// When set, Workers AI calls must send `Authorization: Bearer <this>` or get a 401 envelope (code 10000).
    pub cloudflare_key: Option<String>,
    /// The account id in `/client/v4/accounts/{account}/ai/...`; other accounts get a 404 envelope (code 7003).
    pub cloudflare_account: String,
    /// Pause between streamed chunks, in milliseconds, when the request's fault does not set `chunk_delay_ms`.
    pub default_chunk_delay_ms: u64,
    /// How many call records are kept (the oldest are dropped first); bounds memory in long benchmarks.
    pub max_call_log: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            addr: None,
            openai_key: None,
            cloudflare_key: None,
            cloudflare_account: "test-account".to_owned(),
            default_chunk_delay_ms: 0,
            max_call_log: 100_000,
        }
    }
}
