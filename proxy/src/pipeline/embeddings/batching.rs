//! Micro-batching on the request path: a request's missing inputs join the open batch of its
//! route, upstream model and parameters (`sluice_policies::batch`), and the merged batch is sent
//! upstream as one fetch when its window ends or it is full.
//!
//! There is no background task: a batch is run by one of its own requests — the one that filled
//! it, or the first to reach the end of its window — inside that request's future, while the
//! others wait for their share. A runner whose client leaves keeps running the batch for the
//! others; a runner that is dropped abandons it, and the other members then fetch on their own.
//! Each member gets its own vectors, its share of the prompt tokens (for its own ledger record)
//! and the batch's trace (model, provider, attempts).

use pingora::proxy::Session;
use serde_json::Value;
use sluice_policies::batch::{Failure, Joined};
use sluice_policies::cache::CacheKey;
use tokio::time::Instant;

use super::fetch::{self, Fetched, Job};
use super::{client_gone, BatchFailed, BatchShared, EmbeddingBatch};
use crate::error::GatewayError;
use crate::pipeline::context::RequestContext;
use crate::pipeline::failover::Downstream;

/// Fetches `items` as part of a micro-batch keyed by `key`. `Ok(None)`: the client left.
pub async fn fetch(
    job: &Job<'_>,
    session: &mut Session,
    ctx: &mut RequestContext,
    key: CacheKey,
    items: Vec<Value>,
) -> Result<Option<Fetched>, GatewayError> {
    let batcher = &job.req.state.embedding_batches;
    let own = items.clone();
    let Joined { mut waiter, due, flush } = batcher.submit(key, items, Instant::now(), job.req.route.batch);
    let mut runs = futures_util::stream::FuturesUnordered::new();
    if let Some(batch) = flush {
        runs.push(run(job, batch));
    }
    let deadline = Instant::from_std(ctx.start + job.req.config.timeouts.total);
    let (mut present, mut due_checked) = (true, false);
    let answer = loop {
        if !present && runs.is_empty() {
            return Ok(client_gone(ctx));
        }
        tokio::select! {
            answer = &mut waiter => break Some(answer),
            Some(()) = futures_util::StreamExt::next(&mut runs), if !runs.is_empty() => {}
            _ = tokio::time::sleep_until(due.at), if !due_checked => {
                due_checked = true;
                if let Some(batch) = batcher.take_due(&due) {
                    runs.push(run(job, batch));
                }
            }
            _ = session.gone(), if present => present = false,
            _ = tokio::time::sleep_until(deadline) => break None,
        }
    };
    // Batches this request runs for others are finished before it answers its own client.
    while futures_util::StreamExt::next(&mut runs).await.is_some() {}
    let provider = || job.req.route.candidates.first().map(|c| c.provider.name.clone()).unwrap_or_default();
    match answer {
        None => Err(GatewayError::UpstreamTimeout { provider: provider() }),
        Some(_) if !present => Ok(client_gone(ctx)),
        Some(Ok(delivery)) => {
            let BatchShared { model, candidate, estimated, trace } = delivery.shared;
            trace.apply(ctx);
            Ok(Some(Fetched { vectors: delivery.outputs, model, candidate, estimated }))
        }
        Some(Err(Failure::Failed(BatchFailed { error, trace }))) => {
            trace.apply(ctx);
            Err(error)
        }
        // The batch's runner was dropped before answering: fetch alone.
        Some(Err(Failure::Abandoned)) => super::direct(job, session, ctx, &own, None).await,
    }
}

/// Sends a batch upstream and hands every member its share. Never cancelled by a client: the
/// batch serves several.
async fn run(job: &Job<'_>, batch: EmbeddingBatch) {
    let cancel = fetch::Cancel::new(false);
    let (result, trace) = fetch::run(job, batch.items(), None, &cancel).await;
    match result {
        Ok(Some(f)) => {
            let shared = BatchShared { model: f.model, candidate: f.candidate, estimated: f.estimated, trace };
            batch.finish(Ok((f.vectors, shared)));
        }
        Err(error) => batch.finish(Err(BatchFailed { error, trace })),
        // Nothing raises this fetch's cancel: dropping the batch abandons it, just in case.
        Ok(None) => drop(batch),
    }
}
