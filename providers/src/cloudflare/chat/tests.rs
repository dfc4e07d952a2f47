use serde_json::{json, Value};

use crate::test_support::{json_of, obj, prepared};
use crate::types::{Endpoint, InvalidRequest, Protocol};

const MODEL: &str = "@cf/meta/llama-3.1-8b-instruct";

fn native(body: Value) -> Value {
    let p = prepared(Endpoint::ChatCompletions, Protocol::CloudflareNative, body, MODEL);
    assert_eq!(p.path, "/run/@cf/meta/llama-3.1-8b-instruct");
    json_of(&p.body)
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "fast", "messages": [{"role": "user", "content": "Hi"}]});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

fn rejected(extra: Value) -> InvalidRequest {
    let body = obj(chat(extra));
    let summary = crate::validate(Endpoint::ChatCompletions, &body).unwrap();
    crate::prepare(Endpoint::ChatCompletions, Protocol::CloudflareNative, &body, &summary, MODEL, "id".into(), 0)
        .unwrap_err()
}

#[test]
fn minimal_request_sets_max_tokens() {
    assert_eq!(native(chat(json!({}))), json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4096}));
    let p = prepared(Endpoint::ChatCompletions, Protocol::CloudflareNative, chat(json!({})), MODEL);
    assert_eq!(p.response.max_output_tokens, Some(4096));
}

#[test]
fn sampling_fields_pass_bookkeeping_dropped_unknown_forwarded() {
    let out = native(chat(json!({
        "stream": true, "stream_options": {"include_usage": true}, "max_completion_tokens": 100, "max_tokens": 50,
        "temperature": 0.7, "top_p": 0.9, "seed": 42, "frequency_penalty": 0.5, "presence_penalty": 0.1,
        "user": "u", "metadata": {"a": "b"}, "store": false, "service_tier": "auto", "parallel_tool_calls": false,
        "n": 1, "logprobs": false, "logit_bias": {}, "stop": null, "tool_choice": "auto", "modalities": ["text"],
        "top_k": 40, "repetition_penalty": 1.1, "lora": "my-adapter"
    })));
    assert_eq!(
        out,
        json!({"messages": [{"role": "user", "content": "Hi"}], "stream": true, "max_tokens": 100, "temperature": 0.7,
            "top_p": 0.9, "seed": 42, "frequency_penalty": 0.5, "presence_penalty": 0.1, "top_k": 40,
            "repetition_penalty": 1.1, "lora": "my-adapter"})
    );
}

#[test]
fn content_parts_are_joined_and_developer_becomes_system() {
    let out = native(json!({"model": "m", "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Line one"}, {"type": "text", "text": "Line two"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
    ]}));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Line one\nLine two"},
            {"role": "assistant", "content": "No."}
        ])
    );
}

#[test]
fn non_text_parts_rejected_naming_the_part() {
    for kind in ["image_url", "input_audio", "file"] {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": kind, kind: {}}]}
        ]});
        let body = obj(body);
        let summary = crate::validate(Endpoint::ChatCompletions, &body).unwrap();
        let e = crate::prepare(
            Endpoint::ChatCompletions,
            Protocol::CloudflareNative,
            &body,
            &summary,
            MODEL,
            "id".into(),
            0,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[1].content[1]"));
        assert!(e.message.contains(kind), "{}", e.message);
    }
}

#[test]
fn tool_messages_keep_openai_shape() {
    let calls = json!([{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]);
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object", "properties": {}}}}]);
    let out = native(json!({"model": "m", "tools": tools, "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]}));
    assert_eq!(out["tools"], tools);
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
        ])
    );
}

#[test]
fn tool_choice_none_drops_tools() {
    let out = native(chat(json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})));
    assert_eq!(out.get("tools"), None);
    assert_eq!(out.get("tool_choice"), None);
}

#[test]
fn response_format_json_schema_unwrapped_json_object_kept() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let out = native(chat(
        json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": schema}}}),
    ));
    assert_eq!(out["response_format"], json!({"type": "json_schema", "json_schema": schema}));
    let out = native(chat(json!({"response_format": {"type": "json_object"}})));
    assert_eq!(out["response_format"], json!({"type": "json_object"}));
}

#[test]
fn fields_workers_ai_cannot_honour_are_rejected_by_name() {
    let cases = [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(2)),
        ("logit_bias", json!({"50256": -100})),
        ("stop", json!("END")),
        ("stop", json!(["a"])),
        ("tool_choice", json!("required")),
        ("tool_choice", json!({"type": "function", "function": {"name": "f"}})),
        ("modalities", json!(["text", "audio"])),
        ("audio", json!({"voice": "alloy", "format": "wav"})),
        ("prediction", json!({"type": "content", "content": "x"})),
        ("web_search_options", json!({})),
        ("functions", json!([{"name": "f"}])),
        ("function_call", json!("auto")),
    ];
    for (key, value) in cases {
        let mut extra = serde_json::Map::new();
        extra.insert(key.into(), value);
        if key == "tool_choice" {
            extra.insert("tools".into(), json!([{"type": "function", "function": {"name": "f"}}]));
        }
        let e = rejected(Value::Object(extra));
        assert_eq!(e.param.as_deref(), Some(key), "{e:?}");
        assert_eq!(e.code, Some("unsupported_parameter"));
        assert!(e.message.contains("Cloudflare Workers AI"));
    }
}
