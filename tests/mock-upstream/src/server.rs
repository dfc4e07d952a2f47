//! The HTTP server (HTTP/1.1, or HTTP/2 without TLS when a client starts with the h2c preface):
//! accepts connections and serves each with hyper on its own task. Owns the
//! connection tasks, so aborting [`serve`] (dropping its `JoinSet`) ends every open connection,
//! including hung requests and streams in progress.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::router;
use crate::state::State;

/// Accepts connections until the task running it is aborted.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&state)));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    // Latency matters more than packet count for a benchmark upstream.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| router::handle(Arc::clone(&state), req));
    // Errors here are client disconnects or the deliberate `reset` / `drop_after_chunks` faults.
    // HTTP/2 lets one client connection carry thousands of streams (the 10,000-stream bench).
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(100_000);
    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
}
