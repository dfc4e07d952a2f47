//! `loadgen`: drives HTTP/1.1 keep-alive load at a loopback address for Sluice's benchmarks and
//! prints one table row (or one JSON line) of throughput, latency percentiles, errors and, for SSE
//! answers, time to first event and inter-event gaps.
//!
//! Modules: `cli` (options → target + plan), `run` (closed and open loop drivers), `client` (one
//! keep-alive connection and one exchange), `schedule` (open-loop arithmetic), `sse` (event
//! counting across chunk splits), `stats` (histograms and output).
//!
//! Example: `loadgen --url http://127.0.0.1:8080/v1/chat/completions -H 'authorization: Bearer K'
//! --body '{"model":"m","messages":[]}' --rate 2000 --duration 10 --warmup 1 --label 'sluice json'`

mod cli;
mod client;
mod run;
mod schedule;
mod sse;
mod stats;

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;

use crate::stats::{header, Report, Stats};

fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    let plan = args.plan()?;
    let target = Arc::new(args.target()?);
    let empty = Stats::new().context("creating histograms")?;
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .context("starting the tokio runtime")?;
    let outcome = runtime.block_on(run::run(target, plan, &empty))?;
    let report = Report {
        label: &args.label,
        load: args.load(),
        stream: args.stream,
        window: outcome.window,
        stats: &outcome.stats,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.json())?;
    } else {
        if args.table_header {
            writeln!(out, "{}", header(args.stream))?;
        }
        writeln!(out, "{}", report.row())?;
    }
    Ok(())
}
