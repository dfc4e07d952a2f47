//! [`Client`]: one HTTP/1.1 keep-alive connection to the target, and one request/answer exchange
//! on it with its timings (end, first SSE event, gaps between events).
//!
//! Owns connecting, reconnecting after a failure or a server close, the per-request timeout and
//! reading the whole body. It never decides when to send or whether a request is measured: the
//! drivers in `run` do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::sse::SseCounter;
use crate::stats::{micros, Failure};

/// What every request of a run is made of.
#[derive(Debug)]
pub struct Target {
    /// The loopback address to connect to.
    pub addr: SocketAddr,
    /// Request method.
    pub method: Method,
    /// Path and query (origin form), sent as the request target.
    pub path: Uri,
    /// Headers sent on every request, `host` and `content-type` included.
    pub headers: HeaderMap,
    /// Bodies, used round-robin; empty means an empty body.
    pub bodies: Vec<Bytes>,
    /// The answer is an SSE stream that must end with `data: [DONE]`.
    pub stream: bool,
    /// Limit on one exchange, connecting included: from its start in the closed loop, from when
    /// it was due in the open loop.
    pub timeout: Duration,
}

impl Target {
    /// The body for the `n`-th request.
    pub fn body(&self, n: u64) -> Bytes {
        match self.bodies.len() {
            0 => Bytes::new(),
            len => self.bodies[(n % len as u64) as usize].clone(),
        }
    }
}

/// How one exchange ended.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// Success, or why not.
    pub outcome: Result<(), Failure>,
    /// When the last body byte arrived (or the failure was seen).
    pub end: Instant,
    /// Streams: when the first data event was complete.
    pub first_event: Option<Instant>,
    /// Streams: gaps between chunks that completed events, in microseconds.
    pub gaps_us: &'a [u64],
    /// Streams: data events, not counting `[DONE]`.
    pub events: u64,
}

/// One keep-alive connection, reopened when it fails or the server closes it.
pub struct Client {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    gaps_us: Vec<u64>,
}

impl Client {
    /// A client that connects on its first request.
    pub fn new(target: Arc<Target>) -> Self {
        Self { target, sender: None, gaps_us: Vec::new() }
    }

    /// Sends one request with `body` and reads the whole answer, connecting first if needed; a
    /// [`Failure::Timeout`] when it is not done by `deadline`.
    pub async fn exchange(&mut self, body: Bytes, deadline: Instant) -> Exchange<'_> {
        self.gaps_us.clear();
        let mut first_event = None;
        let mut events = 0;
        let exchange = self.send(body, &mut first_event, &mut events);
        let outcome = match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        if outcome.is_err() && outcome != Err(Failure::Status) && outcome != Err(Failure::Stream) {
            // The connection's state is unknown: start afresh.
            self.sender = None;
        }
        Exchange { outcome, end: Instant::now(), first_event, gaps_us: &self.gaps_us, events }
    }

    async fn send(&mut self, body: Bytes, first_event: &mut Option<Instant>, events: &mut u64) -> Result<(), Failure> {
        let t = Arc::clone(&self.target);
        let sender = self.ready().await?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = t.method.clone();
        *req.uri_mut() = t.path.clone();
        *req.headers_mut() = t.headers.clone();
        let resp = sender.send_request(req).await.map_err(|_| Failure::Io)?;
        let status_ok = resp.status().is_success();
        let mut body = resp.into_body();
        let mut sse = SseCounter::new();
        let mut last_event: Option<Instant> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Failure::Io)?;
            let Some(chunk) = frame.data_ref() else { continue };
            if !t.stream || !status_ok {
                continue;
            }
            let n = sse.feed(chunk);
            if n > 0 {
                let now = Instant::now();
                match last_event {
                    None => *first_event = Some(now),
                    Some(prev) => self.gaps_us.push(micros(now.saturating_duration_since(prev))),
                }
                // Events completed by the same chunk arrived together: zero gaps between them.
                self.gaps_us.extend(std::iter::repeat_n(0, (n - 1) as usize));
                last_event = Some(now);
            }
        }
        *events = sse.events();
        if !status_ok {
            Err(Failure::Status)
        } else if t.stream && !sse.done() {
            Err(Failure::Stream)
        } else {
            Ok(())
        }
    }

    /// The open connection, ready for a request; connects (again) when there is none or the
    /// server closed it (an idle keep-alive close is not an error).
    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        if let Some(s) = self.sender.as_mut() {
            if s.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            self.sender = Some(connect(self.target.addr).await?);
        }
        let sender = self.sender.as_mut().ok_or(Failure::Connect)?;
        sender.ready().await.map_err(|_| Failure::Connect)?;
        Ok(sender)
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let tcp = TcpStream::connect(addr).await.map_err(|_| Failure::Connect)?;
    tcp.set_nodelay(true).map_err(|_| Failure::Connect)?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|_| Failure::Connect)?;
    // The connection task ends when the sender is dropped or the server closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `host` header value for `addr`.
pub fn host_header(addr: SocketAddr) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    HeaderValue::from_str(&addr.to_string())
}
