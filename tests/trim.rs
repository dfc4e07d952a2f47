use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::harness::{client, Gateway, KEY};

const FIXTURE: &str = include_str!("../policies/tests/fixtures/trim_conversation.json");

fn fixture() -> (Vec<Value>, String) {
    let v: Value = serde_json::from_str(FIXTURE).unwrap();
    (v["messages"].as_array().unwrap().clone(), v["fact"].as_str().unwrap().to_string())
}

fn config(mode: &str) -> String {
    format!(
        r#"
[models."assistant"]
candidates = [{{ provider = "openai", model = "gpt-4o" }}]
trim = {{ budget_tokens = 2000, keep_last_turns = 4, summary_model = "gpt-4o-mini", mode = "{mode}" }}
cache = {{ enabled = false }}
"#
    )
}

async fn send(gw: &Gateway, messages: &[Value], headers: &[(&str, &str)]) -> (u16, Value) {
    let body = json!({"model": "assistant", "messages": messages, "user": "conv-user"});
    let mut req = client().post(gw.url("/v1/chat/completions")).bearer_auth(KEY).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn prompt_tokens(messages: &[Value]) -> u64 {
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages.to_vec()));
    sluice::accounting::tokens::count_chat_prompt("gpt-4o", &body)
}

/// The calls the mock got for the conversation itself (gpt-4o) and for summaries (gpt-4o-mini).
fn calls(gw: &Gateway) -> (Vec<Value>, Vec<Value>) {
    let (mut main, mut summaries) = (Vec::new(), Vec::new());
    for call in gw.mock.calls() {
        match call.model.as_deref() {
            Some("gpt-4o") => main.push(call.body),
            Some("gpt-4o-mini") => summaries.push(call.body),
            _ => {}
        }
    }
    (main, summaries)
}

fn assert_tool_pairs_intact(messages: &[Value]) {
    let mut open: HashSet<String> = HashSet::new();
    for m in messages {
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                open.insert(c["id"].as_str().unwrap().to_string());
            }
        }
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap();
            assert!(open.contains(id), "tool result {id} sent without its call");
        }
    }
}

#[tokio::test]
async fn a_long_conversation_is_cut_by_80_percent_and_keeps_what_matters() {
    let gw = Gateway::start_with(&config("wait")).await;
    let (messages, fact) = fixture();
    assert_eq!(messages.len(), 51);
    let (status, body) = send(&gw, &messages, &[]).await;
    assert_eq!(status, 200, "{body}");

    let (main, summaries) = calls(&gw);
    assert_eq!((main.len(), summaries.len()), (1, 1));
    let sent = main[0]["messages"].as_array().unwrap();
    let (before, after) = (prompt_tokens(&messages), prompt_tokens(sent));
    let cut = 1.0 - after as f64 / before as f64;
    println!("trim: {before} -> {after} prompt tokens ({:.1} % fewer)", cut * 100.0);
    assert!(cut >= 0.80, "{before} -> {after}: only {:.1} % fewer", cut * 100.0);
    assert_eq!(sent[0], messages[0], "the system prompt is sent verbatim");
    assert_eq!(sent.last(), messages.last(), "the latest user message is sent verbatim");
    assert_tool_pairs_intact(sent);
    // The fact from the first user message reaches the summariser.
    assert!(summaries[0].to_string().contains(&fact), "the summariser did not see the first message");
    assert!(sent
        .iter()
        .any(|m| m["content"].as_str().is_some_and(|c| c.contains("Summary of the earlier conversation"))));

    // The ledger: the conversation's record says how it was cut; the summary has its own record,
    // charged to the same tenant and user.
    let records = gw.wait_ledger_file(2).await;
    let convo = records.iter().find(|r| r["endpoint"] == "chat").unwrap();
    let summary = records.iter().find(|r| r["endpoint"] == "summary").unwrap();
    assert_eq!(convo["trim"], "summarized");
    assert!(convo["prompt_tokens_before_trim"].as_u64().unwrap() > convo["prompt_tokens"].as_u64().unwrap());
    assert_eq!(summary["user"], "conv-user");
    assert_eq!(summary["tenant"], "acme");
    assert_eq!(summary["model_used"], "gpt-4o-mini");
    assert!(summary["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(summary["request_id"], format!("{}:summary", convo["request_id"].as_str().unwrap()));

    // The same conversation again: its prefix is summarised already.
    send(&gw, &messages, &[]).await;
    let (main, summaries) = calls(&gw);
    assert_eq!((main.len(), summaries.len()), (2, 1), "each prefix is summarised once");

    // Opting out sends everything.
    send(&gw, &messages, &[("x-sluice-trim", "off")]).await;
    let (main, _) = calls(&gw);
    assert_eq!(main[2]["messages"].as_array().unwrap().len(), messages.len());
}

#[tokio::test]
async fn a_conversation_replayed_turn_by_turn_summarises_each_prefix_at_most_once() {
    let gw = Gateway::start_with(&config("wait")).await;
    let (messages, fact) = fixture();
    let user_turns: Vec<usize> = (0..messages.len()).filter(|&i| messages[i]["role"] == "user").collect();
    for &i in &user_turns {
        let (status, _) = send(&gw, &messages[..=i], &[]).await;
        assert_eq!(status, 200);
    }
    let (main, summaries) = calls(&gw);
    assert_eq!(main.len(), user_turns.len());
    let distinct: HashSet<String> = summaries.iter().map(|s| s["messages"].to_string()).collect();
    assert_eq!(distinct.len(), summaries.len(), "a prefix was summarised twice");
    assert!(!summaries.is_empty());
    for sent in &main {
        let sent = sent["messages"].as_array().unwrap();
        assert_tool_pairs_intact(sent);
        let whole = sent.iter().any(|m| m["content"].as_str().is_some_and(|c| c.contains(&fact)));
        let summarised =
            sent.iter().any(|m| m["content"].as_str().is_some_and(|c| c.contains("Summary of the earlier")));
        assert!(whole || summarised, "the first message was dropped with no summary in its place");
    }
}

#[tokio::test]
async fn truncate_mode_answers_at_once_and_summarises_for_the_next_turn() {
    let gw = Gateway::start_with(&config("truncate")).await;
    let (messages, _) = fixture();
    send(&gw, &messages, &[]).await;
    // The background summary lands shortly after.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while calls(&gw).1.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&gw, &messages, &[]).await;
    let (main, summaries) = calls(&gw);
    assert_eq!(summaries.len(), 1);
    let has_summary = |m: &Value| m["messages"].to_string().contains("Summary of the earlier conversation");
    assert!(!has_summary(&main[0]), "the first turn was truncated, not kept waiting");
    assert!(has_summary(&main[1]), "the next turn used the background summary");
    let records = gw.wait_ledger_file(3).await;
    let trims: Vec<&Value> = records.iter().filter(|r| r["endpoint"] == "chat").map(|r| &r["trim"]).collect();
    assert_eq!(trims, [&json!("truncated"), &json!("summarized")]);
}
