//! A raw HTTP/1.1 client over `TcpStream`: sends one request with `Connection: close`, reads to the
//! end, and reports whether the body was complete, so tests can tell a reset or a cut stream apart
//! from a normal answer.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back.
#[derive(Debug)]
pub struct Resp {
    /// Status code; 0 when nothing came back.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked encoding removed).
    pub body: String,
    /// False when the connection ended before the body did (no terminal chunk).
    pub complete: bool,
    /// Bytes received in total.
    pub raw_len: usize,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn events(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("").to_owned())
            .collect()
    }

    /// The JSON `data:` payloads, without `[DONE]`.
    pub fn json_events(&self) -> Vec<Value> {
        self.events().iter().filter(|e| *e != "[DONE]").map(|e| serde_json::from_str(e).unwrap()).collect()
    }
}

/// Sends a request and reads the whole answer (10 s limit).
pub async fn send(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: Option<&Value>) -> Resp {
    tokio::time::timeout(Duration::from_secs(10), send_raw(addr, method, path, auth, body))
        .await
        .expect("request timed out")
}

/// `POST` a JSON body without auth.
pub async fn post(addr: SocketAddr, path: &str, body: Value) -> Resp {
    send(addr, "POST", path, None, Some(&body)).await
}

/// `GET` without auth.
pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, None, None).await
}

/// Opens a connection and writes the request; the caller reads.
pub async fn start_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    if let Some(auth) = auth {
        head.push_str(&format!("authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

async fn send_raw(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: Option<&Value>) -> Resp {
    let mut stream = start_request(addr, method, path, auth, body).await;
    let mut raw = Vec::new();
    // A reset may surface as an error rather than EOF; either way the answer is what we got.
    let _ = stream.read_to_end(&mut raw).await;
    parse(&raw)
}

/// Parses raw response bytes.
pub fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw).into_owned();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return Resp { status: 0, headers: Vec::new(), body: String::new(), complete: false, raw_len: raw.len() };
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned())).collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let (body, complete) = if chunked {
        dechunk(rest)
    } else {
        let len: Option<usize> = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok());
        (rest.to_owned(), len.is_none_or(|l| l == rest.len()))
    };
    Resp { status, headers, body, complete, raw_len: raw.len() }
}

fn dechunk(mut rest: &str) -> (String, bool) {
    let mut body = String::new();
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return (body, false);
        };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            return (body, false);
        };
        if size == 0 {
            return (body, true);
        }
        let Some(chunk) = after.get(..size) else {
            return (body, false);
        };
        body.push_str(chunk);
        rest = after.get(size + 2..).unwrap_or("");
    }
}
