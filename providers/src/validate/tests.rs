use serde_json::{json, Map, Value};

use super::validate;
use crate::types::{EncodingFormat, Endpoint, InvalidRequest, RequestSummary};

fn body(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn chat(extra: Value) -> Map<String, Value> {
    let mut b = body(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}));
    b.extend(body(extra));
    b
}

fn ok(endpoint: Endpoint, b: Map<String, Value>) -> RequestSummary {
    match validate(endpoint, &b) {
        Ok(s) => s,
        Err(e) => panic!("expected valid, got {e:?}"),
    }
}

fn err(endpoint: Endpoint, b: Map<String, Value>) -> InvalidRequest {
    match validate(endpoint, &b) {
        Ok(s) => panic!("expected invalid, got {s:?}"),
        Err(e) => e,
    }
}

/// Asserts the error names `param` (and returns it for message checks).
fn chat_err(extra: Value, param: &str) -> InvalidRequest {
    let e = err(Endpoint::ChatCompletions, chat(extra));
    assert_eq!(e.param.as_deref(), Some(param), "{e:?}");
    e
}

#[test]
fn minimal_chat_summary() {
    let s = ok(Endpoint::ChatCompletions, chat(json!({})));
    assert_eq!(s.model, "gpt-4o-mini");
    assert!(!s.stream && !s.include_usage);
    assert_eq!(s.n, 1);
    assert_eq!(s.max_output_tokens, None);
    assert_eq!(s.encoding_format, EncodingFormat::Float);
    assert_eq!(s.prompt_tokens_estimate, 3 + 3 + 1);
}

#[test]
fn full_chat_summary_and_unknown_fields_allowed() {
    let s = ok(
        Endpoint::ChatCompletions,
        chat(json!({"stream": true, "stream_options": {"include_usage": true}, "max_tokens": 10,
            "max_completion_tokens": 20, "n": 2, "user": "u1", "temperature": 2, "top_p": 0.5,
            "stop": ["a", "b", "c", "d"], "seed": -5, "logprobs": true, "top_logprobs": 3,
            "logit_bias": {"50256": -100}, "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}, "response_format": {"type": "json_object"},
            "top_k": 5, "some_future_field": {"x": [1]}, "metadata": null})),
    );
    assert!(s.stream && s.include_usage);
    assert_eq!(s.max_output_tokens, Some(20));
    assert_eq!(s.n, 2);
    assert_eq!(s.user.as_deref(), Some("u1"));
}

#[test]
fn model_rules() {
    let e = err(Endpoint::ChatCompletions, body(json!({"messages": [{"role": "user", "content": "x"}]})));
    assert_eq!((e.param.as_deref(), e.code), (Some("model"), Some("missing_required_parameter")));
    let e = chat_err(json!({"model": ""}), "model");
    assert_eq!(e.code, Some("empty_string"));
    let e = chat_err(json!({"model": 5}), "model");
    assert_eq!(e.message, "Invalid type for 'model': expected a string, but got an integer instead.");
}

#[test]
fn messages_rules() {
    let e = err(Endpoint::ChatCompletions, body(json!({"model": "m"})));
    assert_eq!(e.message, "Missing required parameter: 'messages'.");
    chat_err(json!({"messages": "hi"}), "messages");
    let e = chat_err(json!({"messages": []}), "messages");
    assert_eq!(e.code, Some("empty_array"));
    chat_err(json!({"messages": [{"role": "user", "content": "a"}, "x"]}), "messages[1]");
    chat_err(json!({"messages": [{"content": "a"}]}), "messages[0].role");
    let e = chat_err(
        json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "robot", "content": "c"}]}),
        "messages[2].role",
    );
    assert!(e.message.contains("'robot'") && e.message.contains("'assistant'"), "{}", e.message);
    chat_err(json!({"messages": [{"role": 1, "content": "a"}]}), "messages[0].role");
    chat_err(json!({"messages": [{"role": "user"}]}), "messages[0].content");
    chat_err(json!({"messages": [{"role": "user", "content": null}]}), "messages[0].content");
    chat_err(json!({"messages": [{"role": "user", "content": 5}]}), "messages[0].content");
    chat_err(json!({"messages": [{"role": "user", "content": []}]}), "messages[0].content");
    chat_err(json!({"messages": [{"role": "user", "content": ["x"]}]}), "messages[0].content[0]");
    chat_err(json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}), "messages[0].content[0].type");
    chat_err(
        json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]}]}),
        "messages[0].content[1].text",
    );
    chat_err(json!({"messages": [{"role": "assistant", "content": null}]}), "messages[0].content");
    chat_err(json!({"messages": [{"role": "tool", "content": "r"}]}), "messages[0].tool_call_id");
    chat_err(
        json!({"messages": [{"role": "assistant", "content": null, "tool_calls": {"id": "x"}}]}),
        "messages[0].tool_calls",
    );
}

#[test]
fn messages_valid_variants() {
    ok(
        Endpoint::ChatCompletions,
        chat(json!({"messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "assistant", "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "assistant", "content": "done", "name": "bot"}
        ]})),
    );
}

#[test]
fn stream_rules() {
    chat_err(json!({"stream": "yes"}), "stream");
    let e = chat_err(json!({"stream_options": {"include_usage": true}}), "stream_options");
    assert!(e.message.contains("only allowed when 'stream' is enabled"));
    chat_err(json!({"stream": true, "stream_options": true}), "stream_options");
    chat_err(json!({"stream": true, "stream_options": {"include_usage": 1}}), "stream_options.include_usage");
    let s = ok(Endpoint::ChatCompletions, chat(json!({"stream": true, "stream_options": {}})));
    assert!(s.stream && !s.include_usage);
    let s = ok(Endpoint::ChatCompletions, chat(json!({"stream": false, "stream_options": null})));
    assert!(!s.stream);
}

#[test]
fn integer_fields() {
    for key in ["max_tokens", "max_completion_tokens", "n"] {
        let e = chat_err(json!({key: 0}), key);
        assert_eq!(e.code, Some("integer_below_min_value"), "{key}");
        let e = chat_err(json!({key: -1}), key);
        assert_eq!(e.code, Some("integer_below_min_value"), "{key}");
        let e = chat_err(json!({key: 1.5}), key);
        assert_eq!(e.code, Some("invalid_type"), "{key}");
        chat_err(json!({key: "5"}), key);
    }
    chat_err(json!({"n": 129}), "n");
    chat_err(json!({"seed": 1.5}), "seed");
    chat_err(json!({"top_logprobs": 21}), "top_logprobs");
}

#[test]
fn number_ranges() {
    let e = chat_err(json!({"temperature": 2.5}), "temperature");
    assert_eq!(
        e.message,
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
    );
    chat_err(json!({"temperature": -0.1}), "temperature");
    let e = chat_err(json!({"temperature": "hot"}), "temperature");
    assert_eq!(e.message, "Invalid type for 'temperature': expected a decimal, but got a string instead.");
    chat_err(json!({"top_p": 1.01}), "top_p");
    chat_err(json!({"presence_penalty": -3}), "presence_penalty");
    chat_err(json!({"frequency_penalty": 3}), "frequency_penalty");
    ok(Endpoint::ChatCompletions, chat(json!({"temperature": 0, "top_p": 1, "temperature_extra": "x"})));
}

#[test]
fn other_typed_fields() {
    chat_err(json!({"stop": 5}), "stop");
    let e = chat_err(json!({"stop": ["a", "b", "c", "d", "e"]}), "stop");
    assert_eq!(e.code, Some("array_above_max_length"));
    chat_err(json!({"stop": ["a", 1]}), "stop[1]");
    ok(Endpoint::ChatCompletions, chat(json!({"stop": "END"})));
    chat_err(json!({"tools": {}}), "tools");
    chat_err(json!({"tools": [5]}), "tools[0]");
    chat_err(json!({"tools": [{"function": {"name": "f"}}]}), "tools[0].type");
    chat_err(json!({"tools": [{"type": "function", "function": {}}]}), "tools[0].function.name");
    chat_err(json!({"tool_choice": "sometimes"}), "tool_choice");
    chat_err(json!({"tool_choice": 1}), "tool_choice");
    chat_err(json!({"user": 42}), "user");
    chat_err(json!({"logprobs": "yes"}), "logprobs");
    chat_err(json!({"logit_bias": []}), "logit_bias");
    chat_err(json!({"parallel_tool_calls": 1}), "parallel_tool_calls");
    chat_err(json!({"response_format": "json"}), "response_format");
    chat_err(json!({"response_format": {}}), "response_format.type");
}

fn emb(extra: Value) -> Map<String, Value> {
    let mut b = body(json!({"model": "text-embedding-3-small", "input": "hello"}));
    b.extend(body(extra));
    b
}

fn emb_err(extra: Value, param: &str) -> InvalidRequest {
    let e = err(Endpoint::Embeddings, emb(extra));
    assert_eq!(e.param.as_deref(), Some(param), "{e:?}");
    e
}

#[test]
fn embeddings_inputs() {
    let s = ok(Endpoint::Embeddings, emb(json!({})));
    assert_eq!((s.input_count, s.encoding_format, s.dimensions), (1, EncodingFormat::Float, None));
    assert_eq!(s.prompt_tokens_estimate, 2);
    let s = ok(Endpoint::Embeddings, emb(json!({"input": ["a", "b"], "encoding_format": "base64", "dimensions": 256})));
    assert_eq!((s.input_count, s.encoding_format, s.dimensions), (2, EncodingFormat::Base64, Some(256)));
    let s = ok(Endpoint::Embeddings, emb(json!({"input": [1, 2, 3]})));
    assert_eq!((s.input_count, s.prompt_tokens_estimate), (1, 3));
    let s = ok(Endpoint::Embeddings, emb(json!({"input": [[1, 2], [3]]})));
    assert_eq!((s.input_count, s.prompt_tokens_estimate), (2, 3));

    let e = err(Endpoint::Embeddings, body(json!({"model": "m"})));
    assert_eq!(e.param.as_deref(), Some("input"));
    emb_err(json!({"input": ""}), "input");
    emb_err(json!({"input": []}), "input");
    emb_err(json!({"input": ["a", ""]}), "input[1]");
    emb_err(json!({"input": ["a", 1]}), "input[1]");
    emb_err(json!({"input": [1, -2]}), "input[1]");
    emb_err(json!({"input": [1, "a"]}), "input[1]");
    emb_err(json!({"input": [[1], []]}), "input[1]");
    emb_err(json!({"input": [[1], [2, 1.5]]}), "input[1][1]");
    emb_err(json!({"input": [[1], 2]}), "input[1]");
    emb_err(json!({"input": [{"a": 1}]}), "input[0]");
    emb_err(json!({"input": 5}), "input");
    let too_many: Vec<Value> = (0..2049).map(|_| json!("x")).collect();
    let e = emb_err(json!({"input": too_many}), "input");
    assert_eq!(e.code, Some("array_above_max_length"));
    let max: Vec<Value> = (0..2048).map(|_| json!("x")).collect();
    assert_eq!(ok(Endpoint::Embeddings, emb(json!({"input": max}))).input_count, 2048);
}

#[test]
fn embeddings_options() {
    emb_err(json!({"encoding_format": "binary"}), "encoding_format");
    emb_err(json!({"encoding_format": 1}), "encoding_format");
    emb_err(json!({"dimensions": 0}), "dimensions");
    emb_err(json!({"dimensions": "256"}), "dimensions");
    emb_err(json!({"user": []}), "user");
    ok(Endpoint::Embeddings, emb(json!({"encoding_format": null, "pooling": "cls"})));
}

#[test]
fn completions_and_responses() {
    let s = ok(
        Endpoint::Completions,
        body(
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5, "stream": true, "stream_options": {"include_usage": true}}),
        ),
    );
    assert!(s.stream && s.include_usage);
    assert_eq!(s.max_output_tokens, Some(5));
    let e = err(Endpoint::Completions, body(json!({"model": "m"})));
    assert_eq!(e.param.as_deref(), Some("prompt"));
    let e = err(Endpoint::Completions, body(json!({"model": "m", "prompt": "x", "logprobs": 6})));
    assert_eq!(e.param.as_deref(), Some("logprobs"));

    let s = ok(
        Endpoint::Responses,
        body(json!({"model": "gpt-4o", "input": "hi", "stream": true, "max_output_tokens": 50})),
    );
    assert!(s.stream);
    assert_eq!(s.max_output_tokens, Some(50));
    let e = err(Endpoint::Responses, body(json!({"model": "gpt-4o", "input": 5})));
    assert_eq!(e.param.as_deref(), Some("input"));
    let e = err(Endpoint::Responses, body(json!({"model": "gpt-4o", "max_output_tokens": 0})));
    assert_eq!(e.param.as_deref(), Some("max_output_tokens"));
}
