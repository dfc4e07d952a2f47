//! Cost of context trimming per request, from the parsed `messages` to what the proxy needs:
//! a short chat (3 messages, within the budget), a medium one (12 messages) and the 50-message
//! support conversation of `policies/tests/fixtures/trim_conversation.json`, each counted with
//! the cheap estimator and with tiktoken (`o200k_base`, the proxy's per-message formula).
//!
//! Baseline in the same run: `count_only`, counting every message and nothing else — the part a
//! gateway pays anyway to know the prompt's size — so `plan`'s own share is the difference.
//! `plan+apply` adds the rewrite (a clone of the input per iteration is excluded), `prefix_key`
//! and `summary_request` are what a trimmed request adds on a store hit and on a miss.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::Value;
use sluice_policies::trim::{
    apply, plan, prefix_key, summary_request, ApproxCounter, Summariser, TokenCounter, TrimPlan, TrimPolicy,
    DEFAULT_SUMMARY_MAX_TOKENS, DEFAULT_SUMMARY_PROMPT,
};
use tiktoken_rs::CoreBPE;

const FIXTURE: &str = include_str!("../tests/fixtures/trim_conversation.json");

/// Tokens by OpenAI's published formula, as `proxy/src/accounting/tokens.rs` counts them.
struct Tiktoken(&'static CoreBPE);

impl Tiktoken {
    fn count(&self, text: &str) -> u64 {
        self.0.encode_with_special_tokens(text).len() as u64
    }
}

impl TokenCounter for Tiktoken {
    fn message_tokens(&self, message: &Value) -> u64 {
        let mut total = 3;
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            total += self.count(role);
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total += self.count(name) + 1;
        }
        match message.get("content") {
            Some(Value::String(s)) => total += self.count(s),
            Some(Value::Array(parts)) => {
                for text in parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)) {
                    total += self.count(text);
                }
            }
            _ => {}
        }
        if let Some(calls) = message.get("tool_calls") {
            total += self.count(&calls.to_string());
        }
        total
    }
}

fn inputs() -> Vec<(&'static str, Vec<Value>)> {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap_or(Value::Null);
    let all: Vec<Value> = fixture.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    let small: Vec<Value> = all.iter().take(2).chain(all.last()).cloned().collect();
    let medium: Vec<Value> = all.iter().take(1).chain(all.iter().skip(all.len().saturating_sub(11))).cloned().collect();
    vec![("small", small), ("medium", medium), ("50-message", all)]
}

fn bench_with(c: &mut Criterion, counter_name: &str, counter: &impl TokenCounter) {
    let policy = TrimPolicy::with_budget(2_000);
    let summariser =
        Summariser { model: "gpt-4o-mini", prompt: DEFAULT_SUMMARY_PROMPT, max_tokens: DEFAULT_SUMMARY_MAX_TOKENS };
    let mut group = c.benchmark_group(format!("trim/{counter_name}"));
    for (name, messages) in inputs() {
        let planned = plan(&messages, &policy, counter);
        let outcome = match &planned {
            TrimPlan::Keep { reason, tokens } => format!("keep ({reason:?}), {tokens} tokens"),
            TrimPlan::Trim(t) => format!(
                "trim: {} dropped, {} → {} tokens ({:.1} % less)",
                t.dropped_count(),
                t.tokens_before,
                t.tokens_after_summary,
                100.0 * (1.0 - t.tokens_after_summary as f64 / t.tokens_before as f64)
            ),
        };
        println!("{counter_name}/{name}: {} messages, {outcome}", messages.len());

        group.bench_function(format!("count_only/{name}"), |b| {
            b.iter(|| black_box(&messages).iter().map(|m| counter.message_tokens(m)).sum::<u64>())
        });
        group.bench_function(format!("plan/{name}"), |b| b.iter(|| plan(black_box(&messages), &policy, counter)));
        group.bench_function(format!("plan+apply/{name}"), |b| {
            b.iter_batched(
                || messages.clone(),
                |owned| match plan(&owned, &policy, counter) {
                    TrimPlan::Trim(t) => apply(owned, &t, Some("A short summary of the earlier turns.")),
                    TrimPlan::Keep { .. } => Ok(owned),
                },
                BatchSize::SmallInput,
            )
        });
        if let TrimPlan::Trim(t) = &planned {
            group.bench_function(format!("prefix_key/{name}"), |b| {
                b.iter(|| prefix_key("acme", &summariser, t.dropped(black_box(&messages))))
            });
            group.bench_function(format!("summary_request/{name}"), |b| {
                b.iter(|| summary_request(t.dropped(black_box(&messages)), &summariser))
            });
        }
    }
    group.finish();
}

fn trim(c: &mut Criterion) {
    bench_with(c, "estimate", &ApproxCounter);
    bench_with(c, "tiktoken", &Tiktoken(tiktoken_rs::o200k_base_singleton()));
}

criterion_group!(benches, trim);
criterion_main!(benches);
