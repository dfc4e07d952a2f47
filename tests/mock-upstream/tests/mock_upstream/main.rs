//! Integration tests of the mock upstream, through real HTTP/1.1 on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod binary; // the `mock-upstream` binary prints its address and serves
mod client; // a tiny raw HTTP/1.1 client that can see resets and cut streams
mod control; // `/__mock/*` endpoints and the call log
mod faults; // every fault kind and the fault-selection rules
mod openai; // OpenAI endpoint shapes and stream framing
mod workers_ai; // Workers AI native and OpenAI-compatible endpoints
