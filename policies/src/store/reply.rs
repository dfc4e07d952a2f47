//! Decoding what [`super::RedisStore`]'s Lua scripts and commands answer, and mapping Redis
//! failures to [`StoreError`].
//!
//! Owns the reply formats documented at the top of each `lua/*.lua` file (flat arrays of integers
//! and strings). It never sends anything.

use std::time::Duration;

use ::redis::{RedisError, Value};

use super::{Bucket, RateKind, RateState, Refusal, StoreError};

/// A script's reply: a flat array of integers and strings.
pub(crate) struct Reply(Vec<Value>);

pub(crate) fn ints_and_strings(value: Value) -> Result<Reply, StoreError> {
    match value {
        Value::Array(items) => Ok(Reply(items)),
        Value::ServerError(e) => Err(StoreError::Protocol(format!("{}: {}", e.code(), e.details().unwrap_or("")))),
        other => Err(StoreError::Protocol(format!("expected an array reply, got {other:?}"))),
    }
}

impl Reply {
    /// What admit's tenant part would answer for a tenant without a cap (granted, 0 tokens): the
    /// script is not sent then.
    pub fn uncapped_tenant() -> Reply {
        Reply(vec![Value::Int(1), Value::Int(0)])
    }

    /// The refusal in a reply of `admit_user.lua` (codes 2–4), `None` for a grant (1).
    pub fn user_refusal(&self) -> Result<Option<Refusal>, StoreError> {
        Ok(match self.code()? {
            1 => None,
            2 => Some(Refusal::QuotaExhausted {
                limit: self.u64(1)?,
                used: self.u64(2)?,
                reserved: self.u64(3)?,
                resets_at: self.u64(4)?,
            }),
            3 => Some(Refusal::RateLimited {
                kind: rate_kind(self.int(1)?),
                limit: self.u64(2)?,
                retry_after: Duration::from_micros(self.u64(3)?),
                rate: self.rate_state(4)?,
            }),
            4 => {
                Some(Refusal::TooLarge { kind: rate_kind(self.int(1)?), limit: self.u64(2)?, requested: self.u64(3)? })
            }
            other => return Err(StoreError::Protocol(format!("admit: unknown reply code {other}"))),
        })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn code(&self) -> Result<i64, StoreError> {
        self.int(0)
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            Some(Value::BulkString(b)) => {
                std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| protocol("expected an integer"))
            }
            Some(Value::Nil) | None => Ok(0),
            Some(other) => Err(StoreError::Protocol(format!("expected an integer, got {other:?}"))),
        }
    }

    pub fn u64(&self, i: usize) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.int(i)?).unwrap_or(0))
    }

    pub fn string(&self, i: usize) -> Result<String, StoreError> {
        match self.0.get(i) {
            Some(Value::BulkString(b)) => String::from_utf8(b.clone()).map_err(|_| protocol("expected UTF-8")),
            Some(Value::SimpleString(s)) => Ok(s.clone()),
            Some(Value::Int(n)) => Ok(n.to_string()),
            Some(Value::Nil) | None => Ok(String::new()),
            Some(other) => Err(StoreError::Protocol(format!("expected a string, got {other:?}"))),
        }
    }

    /// Two buckets as (limit|-1, remaining, reset µs) × 2 starting at `i`.
    pub fn rate_state(&self, i: usize) -> Result<RateState, StoreError> {
        let bucket = |j: usize| -> Result<Option<Bucket>, StoreError> {
            let Ok(limit) = u64::try_from(self.int(j)?) else { return Ok(None) };
            Ok(Some(Bucket { limit, remaining: self.u64(j + 1)?, reset: Duration::from_micros(self.u64(j + 2)?) }))
        };
        Ok(RateState { requests: bucket(i)?, tokens: bucket(i + 3)? })
    }
}

fn rate_kind(code: i64) -> RateKind {
    if code == 2 {
        RateKind::Tokens
    } else {
        RateKind::Requests
    }
}

pub(crate) fn protocol(msg: &str) -> StoreError {
    StoreError::Protocol(msg.to_owned())
}

pub(crate) fn map_err(e: RedisError) -> StoreError {
    if e.is_timeout() {
        StoreError::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Protocol(e.to_string())
    }
}
