//! TLS on both sides: Sluice terminates downstream TLS (HTTP/1.1, and HTTP/2 chosen by ALPN), and
//! verifies upstream certificates, trusting a private CA only when the provider's `ca_file` names it.
//!
//! Certificates are self-signed for `127.0.0.1`/`localhost`, made fresh by each test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio_rustls::TlsAcceptor;

use crate::harness::{chat, free_addr, Gateway, KEY, OPENAI_UPSTREAM_KEY};

/// A self-signed certificate and its key, as DER and as PEM files in a temp dir.
struct SelfSigned {
    cert_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn self_signed() -> SelfSigned {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let cert_pem = ck.cert.pem();
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, ck.signing_key.serialize_pem()).unwrap();
    SelfSigned {
        cert_pem,
        cert_path,
        key_path,
        cert_der: ck.cert.der().clone(),
        key_der: ck.signing_key.serialize_der(),
        _dir: dir,
    }
}

/// A client that trusts `cert_pem` (and the platform roots).
fn client_trusting(cert_pem: &str) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn downstream_tls_serves_http1_and_http2_by_alpn() {
    let cert = self_signed();
    let tls_addr = free_addr();
    let gw = Gateway::start_with(&format!(
        "\n[server.tls]\nlisten = [\"{tls_addr}\"]\ncert_path = \"{}\"\nkey_path = \"{}\"\n",
        cert.cert_path.display(),
        cert.key_path.display()
    ))
    .await;
    let url = format!("https://{tls_addr}/v1/chat/completions");

    // A default client offers h2 and http/1.1 in ALPN; Sluice enables h2, so h2 wins.
    let h2 = client_trusting(&cert.cert_pem).build().unwrap();
    // A client that offers only http/1.1 still gets served.
    let h1 = client_trusting(&cert.cert_pem).http1_only().build().unwrap();
    for (client, version) in [(h2, reqwest::Version::HTTP_2), (h1, reqwest::Version::HTTP_11)] {
        let resp = client.post(&url).bearer_auth(KEY).json(&chat("gpt-4o", "Hello over TLS")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion", "{v}");
        assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().is_empty());
    }
    assert_eq!(gw.mock.call_count(), 2);

    // A client that does not trust the certificate cannot get in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stranger = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let err = stranger.get(format!("https://{tls_addr}/healthz")).send().await;
    assert!(err.is_err(), "an untrusted certificate was accepted");
}

/// An HTTPS OpenAI-compatible upstream answering `POST /v1/chat/completions`.
struct TlsUpstream {
    addr: SocketAddr,
    /// HTTP requests received (only possible after a completed handshake).
    requests: Arc<AtomicUsize>,
    /// Handshakes the client broke off.
    failed_handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_upstream(cert: &SelfSigned) -> TlsUpstream {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert_der.clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let failed_handshakes = Arc::new(AtomicUsize::new(0));
    let (req_count, failed) = (requests.clone(), failed_handshakes.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, req_count, failed) = (acceptor.clone(), req_count.clone(), failed.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let service = service_fn(move |req| {
                    req_count.fetch_add(1, Ordering::SeqCst);
                    answer(req)
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    TlsUpstream { addr, requests, failed_handshakes, task }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {OPENAI_UPSTREAM_KEY}").as_bytes());
    let right_route = req.method() == "POST" && req.uri().path() == "/v1/chat/completions";
    let body: serde_json::Value =
        serde_json::from_slice(&req.into_body().collect().await?.to_bytes()).unwrap_or_default();
    let (status, v) = if !right_route {
        (404, json!({"error": {"message": "not found", "type": "invalid_request_error"}}))
    } else if !authorized {
        (401, json!({"error": {"message": "bad key", "type": "invalid_request_error"}}))
    } else {
        (
            200,
            json!({
                "id": "chatcmpl-tls-1",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the TLS upstream."},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
            }),
        )
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap())
}

#[tokio::test]
async fn upstream_certificates_are_verified_and_ca_file_trusts_a_private_ca() {
    let cert = self_signed();
    let up = tls_upstream(&cert).await;
    let base = format!("https://127.0.0.1:{}/v1", up.addr.port());
    let gw = Gateway::start_with(&format!(
        r#"
[providers.tls-untrusted]
kind = "openai"
base_url = "{base}"
api_key = "${{TEST_OPENAI_KEY}}"

[providers.tls-trusted]
kind = "openai"
base_url = "{base}"
api_key = "${{TEST_OPENAI_KEY}}"
ca_file = "{ca}"

[models."tls-untrusted"]
candidates = [{{ provider = "tls-untrusted", model = "gpt-4o" }}]

[models."tls-trusted"]
candidates = [{{ provider = "tls-trusted", model = "gpt-4o" }}]
"#,
        ca = cert.cert_path.display()
    ))
    .await;

    // Without `ca_file` the self-signed certificate is not trusted: no request reaches it.
    let (status, _, v) = gw.post("/v1/chat/completions", &chat("tls-untrusted", "hi")).await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    assert_eq!(v["error"]["code"], "upstream_unreachable", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("tls-untrusted"), "{v}");
    assert_eq!(up.requests.load(Ordering::SeqCst), 0);
    // Sluice did connect and broke the handshake off (not, say, a refused connection).
    let deadline = Instant::now() + Duration::from_secs(5);
    while up.failed_handshakes.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no handshake reached the upstream");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gw.log().contains("invalid peer certificate"), "log does not name the certificate problem:\n{}", gw.log());

    // With the certificate as `ca_file` the same server is trusted.
    let (status, headers, v) = gw.post("/v1/chat/completions", &chat("tls-trusted", "hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from the TLS upstream.");
    assert_eq!(headers["x-sluice-model"], "gpt-4o");
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
    assert_eq!(gw.mock.call_count(), 0);
}
