//! Choosing and calling upstream candidates — everything that happens before the first byte goes
//! downstream: circuit breakers, pacing, one attempt at a time, retries with backoff and
//! Retry-After, and failover along the route's candidates within one attempt budget.
//!
//! Sluice is the one retry owner: when it gives up, the client is told `x-should-retry: false`.
//! Nothing here ever retries once the answer has started (the relay owns that phase).
//!
//! Every wait (backoff, pacing queue, the attempt itself) ends early when the client leaves. The
//! client is a [`Downstream`]: the Pingora session, or — for the parallel upstream calls of one
//! embeddings request — a signal the caller raises when its client leaves or another call failed.

use std::borrow::Cow;
use std::future::Future;
use std::time::{Duration, Instant};

use pingora::proxy::Session;
use serde_json::{Map, Value};
use sluice_policies::attempts::{AttemptPlan, Step};
use sluice_policies::breaker::{Admit, Admitted, BreakerState, Signal};
use sluice_policies::outcome::Outcome;
use sluice_policies::pacing::Permit;
use sluice_policies::retry::{random_jitter, RetryDecision};
use sluice_providers::{self as providers, Endpoint, InvalidRequest, PreparedRequest, Protocol, RequestSummary};

use super::context::{RequestContext, StreamAbort};
use crate::config::{Candidate, Config, ModelRoute};
use crate::error::GatewayError;
use crate::state::AppState;
use crate::upstream;

/// The candidate that answered with a success status, ready to relay.
pub struct Served<'r> {
    /// Which candidate.
    pub candidate: &'r Candidate,
    /// Its translated request (for response translation).
    pub prepared: PreparedRequest,
    /// The upstream response (headers read, body not yet).
    pub resp: reqwest::Response,
    /// How its breaker admitted it (recorded once the answer is complete).
    pub admitted: Admitted,
    /// Its pacing slot, held until the answer is complete.
    pub permit: Option<Permit>,
}

/// Everything one model request needs to pick and call candidates.
pub struct Request<'a> {
    /// Process state.
    pub state: &'a AppState,
    /// Config snapshot.
    pub config: &'a Config,
    /// The route.
    pub route: &'a ModelRoute,
    /// Endpoint.
    pub endpoint: Endpoint,
    /// Parsed client body.
    pub body: &'a Map<String, Value>,
    /// Validation summary.
    pub summary: &'a RequestSummary,
    /// Size of the client body (context-window estimate).
    pub body_len: usize,
}

/// What failover watches while it waits: whether the client is still there.
pub(crate) trait Downstream {
    /// Resolves once the client has gone; stays pending while it is there.
    fn gone(&mut self) -> impl Future<Output = ()> + Send;
}

impl Downstream for Session {
    async fn gone(&mut self) {
        // Whatever it returns, the connection has nothing more for us: the client left.
        let _ = self.read_body_or_idle(true).await;
    }
}

/// Calls candidates until one answers with a success status. `Ok(None)`: the client left.
pub async fn call<'a>(
    req: &Request<'a>,
    session: &mut Session,
    ctx: &mut RequestContext,
) -> Result<Option<Served<'a>>, GatewayError> {
    call_with(req, None, session, ctx).await
}

/// [`call`] with any [`Downstream`], and optionally only the route's candidate `only` (by index,
/// fallback or not): the calls of one embeddings request must all be answered by one model.
pub(crate) async fn call_with<'a, D: Downstream>(
    req: &Request<'a>,
    only: Option<usize>,
    session: &mut D,
    ctx: &mut RequestContext,
) -> Result<Option<Served<'a>>, GatewayError> {
    let route = req.route;
    let (offset, candidates): (usize, &[Candidate]) = match only {
        Some(i) => (i, route.candidates.get(i..=i).unwrap_or_default()),
        None if route.allow_fallback => (0, &route.candidates),
        None => (0, &route.candidates[..route.candidates.len().min(1)]),
    };
    if candidates.is_empty() {
        return Err(GatewayError::NoCandidate(route.name.clone()));
    }
    // A candidate whose context window cannot hold the request is skipped (bytes ÷ 4 is a fair
    // prompt estimate; the quota reservation uses a stricter upper bound).
    let needed = (req.body_len as u64).div_ceil(4) + req.summary.max_output_tokens.unwrap_or(0);
    let too_small: Vec<bool> = candidates.iter().map(|c| c.context_window.is_some_and(|w| needed > w)).collect();
    let new_plan = || {
        let mut plan = AttemptPlan::new(route.max_attempts, candidates.len());
        for (i, small) in too_small.iter().enumerate() {
            if *small {
                plan.skip(i);
            }
        }
        plan
    };
    let mut plan = new_plan();
    if too_small.iter().all(|s| *s) {
        return Err(GatewayError::InvalidRequest(InvalidRequest {
            message: format!(
                "This request needs about {needed} tokens (prompt + max_tokens), more than the context window of `{}`. Shorten the conversation or lower max_tokens.",
                route.name
            ),
            param: Some("messages".to_string()),
            code: Some("context_length_exceeded"),
        }));
    }
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let response_id = format!("{}{}", id_prefix(req.endpoint), ctx.request_id.trim_start_matches("req_"));
    let deadline = ctx.start + route.first_byte_deadline;
    let tenant = ctx.tenant.clone().unwrap_or_default();

    let mut last: Option<GatewayError> = None;
    let mut cooling: Option<Duration> = None;
    let mut invalid: Option<InvalidRequest> = None;
    let mut waited_for_cooldown = false;
    loop {
        let mut step = plan.start();
        while let Step::Try { candidate: i, attempt, after } = step {
            if !after.is_zero() && !wait(session, after).await {
                return Ok(client_gone(ctx));
            }
            let cand = &candidates[i];
            ctx.fallback = offset + i > 0;
            let admitted = match req.state.breakers.admit(&cand.breaker_key, &route.breaker, Instant::now()) {
                Admit::Yes(a) => a,
                Admit::No { retry_after } => {
                    cooling = Some(cooling.map_or(retry_after, |c| c.min(retry_after)));
                    step = plan.skip_current();
                    continue;
                }
            };
            let prepared = match providers::prepare(
                req.endpoint,
                cand.protocol,
                &candidate_body(req, cand),
                req.summary,
                &cand.model,
                response_id.clone(),
                created,
            ) {
                Ok(p) => p,
                Err(e) => {
                    // This candidate cannot take the request (e.g. a parameter Workers AI lacks).
                    record(req, cand, admitted, Signal::Neutral);
                    invalid.get_or_insert(e);
                    step = plan.skip_current();
                    continue;
                }
            };
            let permit = match req.state.pacer(&cand.provider) {
                None => None,
                Some(pacer) => {
                    let acquired = tokio::select! {
                        r = pacer.acquire(&tenant, tokio::time::Instant::from_std(deadline)) => Some(r),
                        _ = session.gone() => None,
                    };
                    match acquired {
                        None => {
                            record(req, cand, admitted, Signal::Neutral);
                            return Ok(client_gone(ctx));
                        }
                        Some(Ok(permit)) => Some(permit),
                        Some(Err(e)) => {
                            record(req, cand, admitted, Signal::Neutral);
                            req.state.metrics.upstream_busy.with_label_values(&[cand.provider.name.as_str()]).inc();
                            last = Some(GatewayError::UpstreamBusy {
                                provider: cand.provider.name.clone(),
                                retry_after: e.retry_after(),
                            });
                            step = plan.next(RetryDecision::NextCandidate);
                            continue;
                        }
                    }
                }
            };
            ctx.attempts += 1;
            ctx.provider = Some(cand.provider.name.clone());
            ctx.model_used = Some(cand.model.clone());
            req.state.metrics.upstream_requests.inc();
            if attempt > 0 {
                req.state.metrics.retries.with_label_values(&[route.name.as_str()]).inc();
            } else if offset + i > 0 {
                req.state.metrics.fallbacks.with_label_values(&[route.name.as_str()]).inc();
            }
            let budget = deadline.saturating_duration_since(Instant::now()).min(req.config.timeouts.first_byte);
            match attempt_once(req, session, ctx, cand, &prepared, budget).await {
                Attempt::ClientGone => {
                    record(req, cand, admitted, Signal::Neutral);
                    return Ok(client_gone(ctx));
                }
                Attempt::Ok(resp) => return Ok(Some(Served { candidate: cand, prepared, resp, admitted, permit })),
                Attempt::Failed(err, retry_after) => {
                    drop(permit);
                    let outcome = outcome_of(&err, retry_after);
                    record(req, cand, admitted, outcome.signal());
                    if let (Some(wait), Some(pacer)) = (retry_after, req.state.pacer(&cand.provider)) {
                        let cap = route.retry.retry_after_cap;
                        pacer.pause_until(tokio::time::Instant::now() + wait.min(cap));
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    let decision = route.retry.decide(attempt, &outcome, left, &mut random_jitter);
                    tracing::info!(request_id = %ctx.request_id, candidate = %cand.breaker_key, attempt, error = %err, ?decision, "upstream attempt failed");
                    last = Some(err);
                    step = plan.next(decision);
                }
            }
        }
        // Every candidate was cooling down: optionally wait for the first to reopen, once.
        match cooling {
            Some(left)
                if last.is_none()
                    && invalid.is_none()
                    && !waited_for_cooldown
                    && left <= route.cooldown_wait
                    && Instant::now() + left < deadline =>
            {
                waited_for_cooldown = true;
                cooling = None;
                if !wait(session, left).await {
                    return Ok(client_gone(ctx));
                }
                plan = new_plan();
            }
            _ => break,
        }
    }
    // Sluice retried as much as it should: the SDK must not multiply the attempts.
    ctx.gave_up = true;
    Err(match (last, invalid, cooling) {
        (Some(err), _, _) => err,
        (None, Some(e), _) => GatewayError::InvalidRequest(e),
        (None, None, Some(retry_after)) => GatewayError::AllCoolingDown { model: route.name.clone(), retry_after },
        (None, None, None) => GatewayError::NoCandidate(route.name.clone()),
    })
}

/// Records the final outcome of the serving candidate once its answer is complete.
pub fn finish(req: &Request<'_>, candidate: &Candidate, admitted: Admitted, failed: bool, ctx: &RequestContext) {
    let signal = match ctx.stream_abort {
        Some(StreamAbort::UpstreamError | StreamAbort::IdleTimeout) => Signal::Failure,
        Some(StreamAbort::ClientGone) => Signal::Neutral,
        None if failed => Signal::Failure,
        None => Signal::Success,
    };
    record(req, candidate, admitted, signal);
}

fn record(req: &Request<'_>, cand: &Candidate, admitted: Admitted, signal: Signal) {
    let transition = req.state.breakers.record(&cand.breaker_key, &req.route.breaker, Instant::now(), admitted, signal);
    if let Some(t) = transition {
        let to = state_label(t.to);
        tracing::warn!(candidate = %cand.breaker_key, from = state_label(t.from), to, "circuit breaker changed state");
        let m = &req.state.metrics;
        m.breaker_transitions.with_label_values(&[cand.breaker_key.as_str(), to]).inc();
        m.breaker_state.with_label_values(&[cand.breaker_key.as_str()]).set(match t.to {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        });
    }
}

fn state_label(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}

/// Sleeps for a backoff unless the client leaves first (`false`).
async fn wait<D: Downstream>(session: &mut D, after: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(after) => true,
        _ = session.gone() => false,
    }
}

/// The body as `cand` gets it. Embeddings only: a candidate with its own `dimensions` is asked
/// for that size (an OpenAI fallback of a fixed-size route), and a Workers AI candidate, whose
/// vectors have one size, is not sent the route's own size (which it would refuse).
fn candidate_body<'b>(req: &Request<'b>, cand: &Candidate) -> Cow<'b, Map<String, Value>> {
    if req.endpoint != Endpoint::Embeddings {
        return Cow::Borrowed(req.body);
    }
    let asked = req.body.get("dimensions").and_then(Value::as_u64);
    match (cand.dimensions, cand.protocol) {
        (Some(d), _) if asked != Some(d) => {
            let mut body = req.body.clone();
            body.insert("dimensions".to_string(), Value::from(d));
            Cow::Owned(body)
        }
        (None, Protocol::CloudflareNative | Protocol::CloudflareOpenAi)
            if asked.is_some() && asked == req.route.dimensions =>
        {
            let mut body = req.body.clone();
            body.remove("dimensions");
            Cow::Owned(body)
        }
        _ => Cow::Borrowed(req.body),
    }
}

fn client_gone<'a>(ctx: &mut RequestContext) -> Option<Served<'a>> {
    ctx.status = 499;
    ctx.stream_abort = Some(StreamAbort::ClientGone);
    None
}

enum Attempt {
    Ok(reqwest::Response),
    Failed(GatewayError, Option<Duration>),
    ClientGone,
}

/// One attempt: send, and on a non-2xx read and translate the error (with its Retry-After).
async fn attempt_once<D: Downstream>(
    req: &Request<'_>,
    session: &mut D,
    ctx: &mut RequestContext,
    cand: &Candidate,
    prepared: &PreparedRequest,
    first_byte: Duration,
) -> Attempt {
    let started = Instant::now();
    let mut timeouts = req.config.timeouts;
    timeouts.first_byte = first_byte;
    let request_id = ctx.request_id.clone();
    let attempt = async {
        let mut resp = upstream::send(cand, prepared, &request_id, &timeouts).await.map_err(|e| (e, None))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let body = upstream::read_body(&mut resp, timeouts.idle, &cand.provider.name).await.map_err(|e| (e, None))?;
        let mut e = providers::translate_error(cand.protocol, status, &body);
        if e.status == 429 {
            // Sluice's own refusals use `rate_limit_exceeded` / `insufficient_quota`; an
            // upstream's limit is named as such so clients and dashboards can tell them apart.
            e.code = Some(format!("upstream_{}", e.code.as_deref().unwrap_or("rate_limited")));
        }
        Err((GatewayError::Upstream(e), retry_after))
    };
    let outcome = tokio::select! {
        r = attempt => Some(r),
        _ = session.gone() => None,
    };
    ctx.upstream_elapsed = Some(started.elapsed());
    match outcome {
        None => Attempt::ClientGone,
        Some(Ok(resp)) => Attempt::Ok(resp),
        Some(Err((err, retry_after))) => {
            if let GatewayError::Upstream(e) = &err {
                if e.credentials_rejected {
                    req.state.metrics.upstream_auth_failures.with_label_values(&[cand.provider.name.as_str()]).inc();
                    tracing::error!(
                        request_id = %ctx.request_id,
                        provider = %cand.provider.name,
                        upstream_status = e.upstream_status,
                        "UPSTREAM REJECTED SLUICE'S CREDENTIALS: check the provider's api_key in config"
                    );
                }
            }
            Attempt::Failed(err, retry_after)
        }
    }
}

/// `retry-after-ms`, else `retry-after` in seconds.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The policy view of a failed attempt.
fn outcome_of(err: &GatewayError, retry_after: Option<Duration>) -> Outcome {
    match err {
        GatewayError::Upstream(e) => Outcome::Status {
            status: if e.credentials_rejected { 401 } else { e.upstream_status },
            retryable_code: e.retryable,
            out_of_credit: e.out_of_credit,
            retry_after,
        },
        GatewayError::UpstreamUnreachable { .. } => Outcome::ConnectError,
        GatewayError::UpstreamTimeout { .. } => Outcome::Timeout,
        _ => Outcome::status(502),
    }
}

fn id_prefix(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ChatCompletions => "chatcmpl-",
        Endpoint::Embeddings => "emb-",
        Endpoint::Completions => "cmpl-",
        Endpoint::Responses => "resp_",
    }
}
