//! Sluice: an OpenAI-compatible LLM gateway on Pingora, in front of OpenAI and Cloudflare Workers
//! AI. See `ARCHITECTURE.md` for the map and the request's path through the code.

pub mod accounting;
pub mod caching;
pub mod config;
pub mod downgrade;
pub mod error;
pub mod identity;
pub mod opt_out;
pub mod pipeline;
pub mod server;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod trimming;
pub mod upstream;
