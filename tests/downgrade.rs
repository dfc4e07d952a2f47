use serde_json::{json, Value};

use crate::harness::{client, Gateway, KEY};

/// A gpt-4o route with a downgrade rule (`rule` is the inline table's body), plus prices.
fn config(rule: &str) -> String {
    format!(
        r#"
[models."smart"]
candidates = [{{ provider = "openai", model = "gpt-4o" }}]
downgrade = {{ to = "gpt-4o-mini", {rule} }}

[models."smart-cf"]
candidates = [{{ provider = "openai", model = "gpt-4o" }}]
downgrade = {{ to = "llama-3.1-8b" }}

[tiers.default]

[tiers.pro]

[prices."gpt-4o"]
input = 2.5
output = 10.0

[prices."gpt-4o-mini"]
input = 0.15
output = 0.6
"#
    )
}

async fn ask(
    gw: &Gateway,
    model: &str,
    text: &str,
    extra: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
    let mut req = client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

const SIMPLE: &str = "Thanks, that's all I needed!";
const COMPLEX: &str =
    "Prove that there are infinitely many primes of the form 4k+3, and explain each step of the argument.";

#[tokio::test]
async fn a_simple_prompt_goes_to_the_cheap_model_and_a_complex_one_does_not() {
    let gw = Gateway::start_with(&config("mode = \"auto\"")).await;
    let (status, headers, body) = ask(&gw, "smart", SIMPLE, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o-mini"), "upstream got the cheap model");
    assert_eq!(body["model"].as_str().unwrap(), "gpt-4o-mini", "the SDK sees the model used");
    assert_eq!(headers["x-sluice-model"], "gpt-4o-mini");
    assert_eq!(headers["x-sluice-downgrade"], "applied");
    assert!(headers["x-sluice-downgrade-reason"].to_str().unwrap().contains("score="));

    let (status, headers, body) = ask(&gw, "smart", COMPLEX, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));
    assert_eq!(body["model"].as_str().unwrap(), "gpt-4o");
    assert_eq!(headers["x-sluice-downgrade"], "complex");

    // The ledger names the model used, the decision and the saving.
    let records = gw.wait_ledger_file(2).await;
    assert_eq!(records[0]["model_asked"], "smart");
    assert_eq!(records[0]["model_used"], "gpt-4o-mini");
    assert_eq!(records[0]["downgraded"], true);
    assert_eq!(records[0]["downgrade"], "applied");
    assert!(records[0]["complexity_score"].as_f64().unwrap() < 1.0);
    assert!(records[0]["saved_usd"].as_f64().unwrap() > 0.0, "{}", records[0]);
    assert_eq!(records[1]["downgraded"], false);
    assert_eq!(records[1]["downgrade"], "complex");
    assert_eq!(records[1]["saved_usd"], 0.0);
    assert_eq!(gw.metric("sluice_downgrades_total{model=\"smart\",outcome=\"applied\"}").await, 1.0);
    assert!(gw.metric("sluice_downgrade_saved_usd_total{model=\"smart\"}").await > 0.0);
}

#[tokio::test]
async fn opt_outs_holdback_and_structured_requests_keep_the_model_asked() {
    let gw = Gateway::start_with(&config("holdback = 0.0")).await;
    let (_, headers, _) = ask(&gw, "smart", SIMPLE, &[("x-sluice-downgrade", "off")]).await;
    assert_eq!(headers["x-sluice-downgrade"], "opted_out");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));
    let (status, _, err) = ask(&gw, "smart", SIMPLE, &[("x-sluice-downgrade", "maybe")]).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["param"], "x-sluice-downgrade");

    // Tools are never downgraded unless the rule says so.
    let body = json!({"model": "smart", "messages": [{"role": "user", "content": "Hi!"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]});
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.headers()["x-sluice-downgrade"], "structured");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));

    // A workers AI target: the request arrives there in its native format.
    let (status, headers, body) = ask(&gw, "smart-cf", SIMPLE, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-sluice-downgrade"], "applied");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("@cf/meta/llama-3.1-8b-instruct"));
    assert_eq!(body["model"], "@cf/meta/llama-3.1-8b-instruct");

    // All held back: eligible but kept, and tagged for the A/B comparison.
    let gw = Gateway::start_with(&config("holdback = 1.0")).await;
    let (_, headers, _) = ask(&gw, "smart", SIMPLE, &[]).await;
    assert_eq!(headers["x-sluice-downgrade"], "holdback");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));
    let records = gw.wait_ledger_file(1).await;
    assert_eq!(records[0]["downgrade"], "holdback");
    assert_eq!(records[0]["downgraded"], false);
}

#[tokio::test]
async fn modes_tiers_and_tenants_switch_the_rule() {
    let gw = Gateway::start_with(&config("mode = \"always\"")).await;
    let (_, headers, _) = ask(&gw, "smart", COMPLEX, &[]).await;
    assert_eq!(headers["x-sluice-downgrade"], "applied", "always means always");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o-mini"));

    let gw = Gateway::start_with(&config("mode = \"never\"")).await;
    let (_, headers, _) = ask(&gw, "smart", SIMPLE, &[]).await;
    assert_eq!(headers["x-sluice-downgrade"], "never");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));

    // The test key's tier is `pro`: a rule for `free` only leaves it alone.
    let gw = Gateway::start_with(&format!("{}\n[tiers.free]\n", config("tiers = [\"free\"]"))).await;
    let (_, headers, _) = ask(&gw, "smart", SIMPLE, &[]).await;
    assert_eq!(headers["x-sluice-downgrade"], "opted_out");

    let gw = Gateway::start_with(&format!("{}\n[tenants.acme]\ndowngrade = false\n", config("mode = \"auto\""))).await;
    let (_, headers, _) = ask(&gw, "smart", SIMPLE, &[]).await;
    assert_eq!(headers["x-sluice-downgrade"], "opted_out");
    assert_eq!(gw.mock.calls().last().unwrap().model.as_deref(), Some("gpt-4o"));
}
