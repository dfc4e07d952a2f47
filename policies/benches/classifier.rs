//! Cost of classifying one chat request, from the parsed JSON body to the [`Assessment`]:
//! a short question, a medium request with pasted code, a 50-message conversation, and a long
//! prompt (a ~6 KB pasted document with a question about it).
//!
//! Baselines in the same run: `ChatView::from_request` alone (the walk over the body), so the
//! classifier's own share is the difference; and the view plus a word count of the last user
//! message (the floor of any classifier that reads the text once).
//!
//! Run: `cargo bench -p sluice-policies --bench classifier`.

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use sluice_policies::downgrade::{assess, ChatView, ClassifierWeights, DEFAULT_THRESHOLD};

fn body(messages: Value) -> Map<String, Value> {
    match json!({"model": "gpt-4o", "messages": messages}) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn inputs() -> Vec<(&'static str, Map<String, Value>)> {
    let small = body(json!([{"role": "user", "content": "What's the capital of Australia?"}]));
    let code = "```python\ndef dedupe(xs):\n    i = 0\n    while i < len(xs):\n        if xs[i] in xs[i+1:]:\n            xs.remove(xs[i])\n        else:\n            i += 1\n    return xs\n```";
    let medium = body(json!([
        {"role": "system", "content": "You are a helpful coding assistant."},
        {"role": "user", "content": format!("My script uses 100% CPU and never finishes when the input has duplicates. Why, and how do I fix it without changing the order of the elements?\n{code}")}
    ]));
    let mut long = vec![
        json!({"role": "system", "content": "You are a helpful assistant for a travel agency. Answer briefly and politely."}),
    ];
    for i in 0..49 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        long.push(json!({"role": role, "content": format!("Message {i}: we talked about hotels in Lisbon, the budget of 1,200 euros, the flight times and whether the old town is walkable in summer with two small children.")}));
    }
    long.push(json!({"role": "user", "content": "thanks, that's really helpful!"}));
    let paragraph = "The quarterly report shows revenue grew 12% year over year, driven by the enterprise \
        segment, while churn in the self-serve plans rose slightly after the price change in March. Support \
        tickets per customer fell, and the median time to first response is now under two hours. ";
    let document = paragraph.repeat(20);
    let long_prompt = body(json!([
        {"role": "user", "content": format!("Here is our internal report:\n\n{document}\nWhat does it say about churn?")}
    ]));
    vec![
        ("small", small),
        ("medium", medium),
        ("50-message", body(Value::Array(long))),
        ("long prompt (6 KB)", long_prompt),
    ]
}

fn classifier(c: &mut Criterion) {
    let weights = ClassifierWeights::default();
    let mut group = c.benchmark_group("classifier");
    for (name, b) in inputs() {
        group.bench_function(format!("baseline: view + count words/{name}"), |bench| {
            bench.iter(|| ChatView::from_request(black_box(&b)).last_user_text.split_whitespace().count())
        });
        group.bench_function(format!("view_only/{name}"), |bench| {
            bench.iter(|| ChatView::from_request(black_box(&b)).earlier_turns)
        });
        group.bench_function(format!("assess/{name}"), |bench| {
            bench.iter(|| assess(&ChatView::from_request(black_box(&b)), &weights, DEFAULT_THRESHOLD).complex)
        });
    }
    group.finish();
}

criterion_group!(benches, classifier);
criterion_main!(benches);
