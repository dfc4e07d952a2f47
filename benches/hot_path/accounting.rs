//! The end of a request: metrics as the logging phase records them, settlement's token and cost
//! counters, the `/metrics` render, and tiktoken counts (used when an upstream reports no usage).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use futures_util::FutureExt;
use serde_json::{Map, Value};
use sluice::caching::{CacheStatus, Caching};
use sluice::config::ModelKind;
use sluice::downgrade::Outcome;
use sluice::error::FaultDomain;
use sluice::pipeline::context::{EndpointLabel, RequestContext};
use sluice::state::AppState;
use sluice_providers::Usage;

use super::{chat_body, ANSWER};

/// The process state `sluice serve` builds from the shipped `config.toml` (memory store, ledger
/// file in a temporary directory, access log off), and what must outlive it.
struct Fixture {
    state: Arc<AppState>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let text = include_str!("../../config.toml");
    let lookup = |name: &str| (name == "SLUICE_APP_KEY").then(|| "sk-bench-gateway-key-0001".to_string());
    let mut config = sluice::config::load_str(text, &lookup).unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.log.access_log = false;
    config.ledger.file = dir.path().join("ledger.jsonl");
    config.ledger.spool = dir.path().join("ledger.spool");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let accounting = Arc::new(runtime.block_on(sluice::accounting::connect(&config)).unwrap());
    let caching = {
        let _inside = runtime.enter();
        Caching::connect(&config.cache, &config.store.key_prefix).unwrap()
    };
    let state = AppState::new(config, None, accounting, caching).unwrap();
    Fixture { state, _runtime: runtime, _dir: dir }
}

/// A finished, streamed, successful chat request as the pipeline leaves it for the logging phase
/// (already accounted: success paths settle before the last byte).
fn finished(state: &AppState, model: &str, tier: &str, status: u16) -> RequestContext {
    let route = state.config().models.get(model).cloned().unwrap();
    let candidate = &route.candidates[0];
    let mut ctx = RequestContext::new();
    ctx.request_id = "req-0123456789".into();
    ctx.endpoint = match route.kind {
        ModelKind::Chat => EndpointLabel::Chat,
        ModelKind::Embeddings => EndpointLabel::Embeddings,
    };
    ctx.tenant = Some("chat-app".into());
    ctx.tier = Some(tier.into());
    ctx.user = Some("user-1234".into());
    ctx.model_used = Some(candidate.model.clone());
    ctx.provider = Some(candidate.provider.name.clone());
    ctx.stream = matches!(route.kind, ModelKind::Chat);
    ctx.status = status;
    ctx.upstream_elapsed = Some(Duration::from_millis(850));
    ctx.first_byte = ctx.stream.then_some(Duration::from_millis(180));
    ctx.usage = Some(Usage { prompt_tokens: 41, completion_tokens: 72, total_tokens: 113, ..Usage::default() });
    ctx.downgrade = ctx.stream.then_some((Outcome::Complex, Some(1.5)));
    ctx.cache = Some(CacheStatus::Miss);
    ctx.accounted = true;
    match status {
        200 => {}
        429 => ctx.error = Some((FaultDomain::Policy, "rate_limit_exceeded".into())),
        400 => ctx.error = Some((FaultDomain::Caller, "invalid_value".into())),
        _ => ctx.error = Some((FaultDomain::Provider, "upstream_timeout".into())),
    }
    ctx.route = Some(route);
    ctx
}

pub fn metrics(c: &mut Criterion) {
    let fixture = fixture();
    let state = &fixture.state;
    let config = state.config();
    let mut g = c.benchmark_group("metrics");

    let counter = AtomicU64::new(0);
    g.bench_function("baseline: one atomic add", |b| b.iter(|| counter.fetch_add(black_box(1), Ordering::Relaxed)));
    g.bench_function("one labelled counter (4 labels)", |b| {
        b.iter(|| state.metrics.requests.with_label_values(black_box(&["chat", "gpt-4o", "openai", "2xx"])).inc())
    });
    // `model_asked` unset: `finish` skips settlement and the ledger record and does exactly the
    // metrics of a request (7 labelled series: 1 counter, 4 histograms, downgrade and cache counters).
    let mut ctx = finished(state, "gpt-4o", "enterprise", 200);
    g.bench_function("request metrics (RequestContext::finish, streamed chat)", |b| {
        b.iter(|| ctx.finish(black_box(state)).now_or_never().unwrap())
    });
    // No reservation: only the cost and the prompt/completion token counters.
    let mut ctx = finished(state, "gpt-4o", "enterprise", 200);
    g.bench_function("settlement counters (Accounting::account: cost + 3 counters)", |b| {
        b.iter(|| {
            ctx.accounted = false;
            state.accounting.account(&config, &state.metrics, black_box(&mut ctx)).now_or_never().unwrap()
        })
    });

    // A registry after traffic on every route, tier and status class.
    let mut routes: Vec<&String> = config.models.keys().collect();
    routes.sort();
    for model in &routes {
        for tier in ["free", "pro", "enterprise"] {
            for status in [200, 400, 429, 504] {
                let mut ctx = finished(state, model, tier, status);
                ctx.finish(state).now_or_never().unwrap();
                if status == 200 {
                    ctx.accounted = false;
                    state.accounting.account(&config, &state.metrics, &mut ctx).now_or_never().unwrap();
                }
            }
        }
    }
    let page = state.metrics.render();
    let series = page.split(|b| *b == b'\n').filter(|l| !l.is_empty() && !l.starts_with(b"#")).count();
    g.throughput(Throughput::Bytes(page.len() as u64));
    g.bench_function(format!("render of GET /metrics ({series} series, {} KiB)", page.len() / 1024), |b| {
        b.iter(|| black_box(state.metrics.render()))
    });
    g.finish();
}

pub fn tokens(c: &mut Criterion) {
    use sluice::accounting::tokens;
    let body = chat_body(false);
    let map: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    let mut g = c.benchmark_group("tokens");
    g.bench_function("baseline: bytes / 3 (quota::prompt_estimate, what admit uses)", |b| {
        use sluice_policies::quota::{prompt_estimate, DEFAULT_BYTES_PER_TOKEN};
        b.iter(|| prompt_estimate(black_box(body.len()), DEFAULT_BYTES_PER_TOKEN))
    });
    g.bench_function("tiktoken: chat prompt (2 messages, gpt-4o)", |b| {
        b.iter(|| tokens::count_chat_prompt(black_box("gpt-4o"), black_box(&map)))
    });
    g.bench_function("tiktoken: 70-token completion (gpt-4o)", |b| {
        b.iter(|| tokens::count_text(black_box("gpt-4o"), black_box(ANSWER)))
    });
    g.bench_function("tiktoken: 70-token completion (Workers AI model, o200k estimate)", |b| {
        b.iter(|| tokens::count_text(black_box("@cf/meta/llama-3.1-8b-instruct"), black_box(ANSWER)))
    });
    g.finish();
}
