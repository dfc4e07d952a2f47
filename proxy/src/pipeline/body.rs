//! Reading the request body before routing, within the configured size limit.

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

use crate::error::GatewayError;

/// Reads the whole body; refuses with 413 as soon as it exceeds `limit` (by `Content-Length` or
/// by bytes actually read).
pub async fn read_limited(session: &mut Session, limit: usize) -> Result<Bytes, GatewayError> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(4096).min(limit));
    loop {
        let chunk = session
            .read_request_body()
            .await
            .map_err(|e| GatewayError::InvalidJson(format!("the request body could not be read ({:?})", e.etype())))?;
        let Some(chunk) = chunk else { break };
        if buf.len() + chunk.len() > limit {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
