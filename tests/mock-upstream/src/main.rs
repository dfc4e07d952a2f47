//! The `mock-upstream` binary: runs the mock on a chosen address for the offline demo and the
//! benchmarks, prints `mock-upstream listening on http://ADDR` once bound, and serves until SIGTERM
//! or SIGINT. No per-request logging: it is also the benchmark upstream.
//!
//! Usage: `mock-upstream [--addr 127.0.0.1:PORT] [--openai-key K] [--cloudflare-key K]
//! [--cloudflare-account A] [--chunk-delay-ms N] [--max-call-log N]`

use std::io::Write as _;

use anyhow::{bail, Context as _};
use sluice_mock_upstream::{MockOptions, MockUpstream};

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<MockOptions> {
    let mut opts = MockOptions::default();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!(
                "usage: mock-upstream [--addr 127.0.0.1:PORT] [--openai-key K] [--cloudflare-key K] \
                 [--cloudflare-account A] [--chunk-delay-ms N] [--max-call-log N]"
            );
            std::process::exit(0);
        }
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => opts.addr = Some(value.parse().with_context(|| format!("--addr {value}"))?),
            "--openai-key" => opts.openai_key = Some(value),
            "--cloudflare-key" => opts.cloudflare_key = Some(value),
            "--cloudflare-account" => opts.cloudflare_account = value,
            "--chunk-delay-ms" => opts.default_chunk_delay_ms = value.parse().context("--chunk-delay-ms")?,
            "--max-call-log" => opts.max_call_log = value.parse().context("--max-call-log")?,
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(opts)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = parse_args(std::env::args().skip(1))?;
    let mock = MockUpstream::start_with(opts).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "mock-upstream listening on http://{}", mock.addr())?;
    out.flush()?;
    drop(out);
    wait_for_signal().await?;
    mock.shutdown().await;
    Ok(())
}
