use bytes::Bytes;
use serde_json::json;

use super::StreamTranslator;
use crate::test_support::ctx;
use crate::types::{Endpoint, Protocol, ResponseContext, Usage};

const OPENAI_STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

fn chat_ctx(protocol: Protocol, include_usage: bool) -> ResponseContext {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": true});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    let model = if protocol == Protocol::OpenAi { "gpt-4o-mini" } else { "@cf/meta/llama-3.1-8b-instruct" };
    ctx(Endpoint::ChatCompletions, protocol, body, model)
}

/// Feeds `input` in two pieces split at `split`, then finishes; returns the output and translator.
fn run_split(ctx: &ResponseContext, input: &[u8], split: usize) -> (String, StreamTranslator) {
    let mut t = StreamTranslator::new(ctx);
    let mut out = Vec::new();
    t.push(&input[..split], &mut out).unwrap();
    t.push(&input[split..], &mut out).unwrap();
    t.finish(&mut out).unwrap();
    assert_eq!(out.len() as u64, t.events_forwarded());
    (concat(&out), t)
}

fn concat(out: &[Bytes]) -> String {
    out.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
}

fn run(ctx: &ResponseContext, input: &[u8]) -> (String, StreamTranslator) {
    run_split(ctx, input, 0)
}

#[test]
fn openai_with_include_usage_is_forwarded_byte_for_byte() {
    let (out, t) = run(&chat_ctx(Protocol::OpenAi, true), OPENAI_STREAM.as_bytes());
    assert_eq!(out, OPENAI_STREAM);
    assert!(t.is_complete());
    assert_eq!(t.events_forwarded(), 6);
    assert_eq!(t.usage(), Some(Usage { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, ..Usage::default() }));
    assert_eq!(t.completion_text(), "Hello!");
}

#[test]
fn usage_chunk_dropped_when_client_did_not_ask() {
    let (out, t) = run(&chat_ctx(Protocol::OpenAi, false), OPENAI_STREAM.as_bytes());
    let usage_event = OPENAI_STREAM.split("\n\n").nth(4).unwrap();
    assert_eq!(out, OPENAI_STREAM.replace(&format!("{usage_event}\n\n"), ""));
    assert_eq!(t.events_forwarded(), 5);
    assert_eq!(t.usage().map(|u| u.total_tokens), Some(11));
}

#[test]
fn pass_through_identical_for_every_split_position() {
    for include_usage in [true, false] {
        let c = chat_ctx(Protocol::OpenAi, include_usage);
        let (whole, _) = run(&c, OPENAI_STREAM.as_bytes());
        for split in 0..=OPENAI_STREAM.len() {
            let (out, t) = run_split(&c, OPENAI_STREAM.as_bytes(), split);
            assert_eq!(out, whole, "split {split}");
            assert!(t.is_complete());
            assert_eq!(t.completion_text(), "Hello!");
        }
    }
}

#[test]
fn events_are_emitted_as_soon_as_complete() {
    let c = chat_ctx(Protocol::OpenAi, true);
    let mut t = StreamTranslator::new(&c);
    let mut out = Vec::new();
    let first_end = OPENAI_STREAM.find("\n\n").unwrap() + 2;
    t.push(&OPENAI_STREAM.as_bytes()[..first_end], &mut out).unwrap();
    assert_eq!(out.len(), 1);
    t.push(&OPENAI_STREAM.as_bytes()[first_end..first_end + 10], &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(!t.is_complete());
}

#[test]
fn mid_stream_error_event_is_an_error() {
    let c = chat_ctx(Protocol::OpenAi, false);
    let mut t = StreamTranslator::new(&c);
    let mut out = Vec::new();
    let input = concat!(
        r#"data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        "\n\n",
        r#"data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#,
        "\n\n",
    );
    let e = t.push(input.as_bytes(), &mut out).unwrap_err();
    assert_eq!(out.len(), 1);
    assert_eq!((e.status, e.error_type.as_str()), (502, "server_error"));
    assert!(e.message.contains("server had an error"));
    assert!(!t.is_complete());
}

#[test]
fn tool_call_arguments_and_completions_text_are_recorded() {
    let c = chat_ctx(Protocol::OpenAi, false);
    let input = concat!(
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );
    let (out, t) = run(&c, input.as_bytes());
    assert_eq!(out, input);
    assert_eq!(t.completion_text(), "{\"a\":1}");

    let c = ctx(
        Endpoint::Completions,
        Protocol::OpenAi,
        json!({"model": "m", "prompt": "x", "stream": true}),
        "gpt-3.5-turbo-instruct",
    );
    let input = concat!(
        r#"data: {"id":"cmpl-1","object":"text_completion","choices":[{"text":"Hi","index":0,"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"cmpl-1","object":"text_completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );
    let (out, t) = run(&c, input.as_bytes());
    assert!(!out.contains("usage"));
    assert_eq!(t.completion_text(), "Hi");
    assert_eq!(t.usage().map(|u| u.total_tokens), Some(2));
}

#[test]
fn unreadable_and_comment_events_pass_through_and_after_done_is_ignored() {
    let c = chat_ctx(Protocol::OpenAi, false);
    let input = ": keep-alive\n\ndata: not json\n\ndata: [DONE]\n\ndata: {\"late\":1}\n\n";
    let (out, t) = run(&c, input.as_bytes());
    assert_eq!(out, ": keep-alive\n\ndata: not json\n\ndata: [DONE]\n\n");
    assert_eq!(t.events_forwarded(), 3);
}

#[test]
fn finish_handles_unterminated_done() {
    let c = chat_ctx(Protocol::OpenAi, false);
    let mut t = StreamTranslator::new(&c);
    let mut out = Vec::new();
    t.push(b"data: [DONE]", &mut out).unwrap();
    assert!(out.is_empty() && !t.is_complete());
    t.finish(&mut out).unwrap();
    assert!(t.is_complete());
    assert_eq!(concat(&out), "data: [DONE]\n\n");
}

#[test]
fn workers_ai_compat_missing_usage_is_made_up_only_when_asked() {
    let input = concat!(
        r#"data: {"id":"id-7","object":"chat.completion.chunk","created":5,"model":"@cf/x","choices":[{"index":0,"delta":{"content":"abcd"}}]}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );
    let (out, t) = run(&chat_ctx(Protocol::CloudflareOpenAi, true), input.as_bytes());
    let usage_chunk = r#"data: {"id":"id-7","object":"chat.completion.chunk","created":5,"model":"@cf/x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
    assert_eq!(out, input.replace("data: [DONE]", &format!("{usage_chunk}\n\ndata: [DONE]")));
    assert_eq!(t.usage(), None);
    let (out, _) = run(&chat_ctx(Protocol::CloudflareOpenAi, false), input.as_bytes());
    assert_eq!(out, input);
}

#[test]
fn responses_stream_reads_usage_from_completed_event() {
    let c = ctx(Endpoint::Responses, Protocol::OpenAi, json!({"model": "m", "input": "hi", "stream": true}), "gpt-4o");
    let input = concat!(
        "event: response.created\n",
        r#"data: {"type":"response.created","response":{"id":"resp_1","usage":null}}"#,
        "\n\n",
        "event: response.output_text.delta\n",
        r#"data: {"type":"response.output_text.delta","delta":"Hel"}"#,
        "\n\n",
        "event: response.output_text.delta\n",
        r#"data: {"type":"response.output_text.delta","delta":"lo"}"#,
        "\n\n",
        "event: response.completed\n",
        r#"data: {"type":"response.completed","response":{"id":"resp_1","output":[{"type":"message"}],"usage":{"input_tokens":5,"output_tokens":2,"total_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}}}"#,
        "\n\n",
    );
    let (out, t) = run(&c, input.as_bytes());
    assert_eq!(out, input);
    assert!(t.is_complete());
    assert_eq!(t.completion_text(), "Hello");
    assert_eq!(t.usage().map(|u| (u.prompt_tokens, u.completion_tokens)), Some((5, 2)));
}

const NATIVE_STREAM: &str = concat!(
    r#"data: {"response":"Hello","p":"abcdefgh"}"#,
    "\n\n",
    r#"data: {"response":"!","p":"ab"}"#,
    "\n\n",
    r#"data: {"response":"","usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

fn native_chunk(delta: &str, finish: &str, usage_null: bool) -> String {
    let usage = if usage_null { r#","usage":null"# } else { "" };
    format!(
        r#"data: {{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1764000000,"model":"@cf/meta/llama-3.1-8b-instruct","choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]{usage}}}"#
    ) + "\n\n"
}

#[test]
fn native_stream_becomes_openai_chunks_exactly() {
    let (out, t) = run(&chat_ctx(Protocol::CloudflareNative, false), NATIVE_STREAM.as_bytes());
    let expected = [
        native_chunk(r#"{"role":"assistant","content":""}"#, "null", false),
        native_chunk(r#"{"content":"Hello"}"#, "null", false),
        native_chunk(r#"{"content":"!"}"#, "null", false),
        native_chunk("{}", r#""stop""#, false),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(out, expected);
    assert!(t.is_complete());
    assert_eq!(t.events_forwarded(), 5);
    assert_eq!(t.completion_text(), "Hello!");
    assert_eq!(
        t.usage(),
        Some(Usage { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14, ..Usage::default() })
    );
}

#[test]
fn native_stream_with_include_usage() {
    let (out, _) = run(&chat_ctx(Protocol::CloudflareNative, true), NATIVE_STREAM.as_bytes());
    let usage = r#"data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1764000000,"model":"@cf/meta/llama-3.1-8b-instruct","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
    let expected = [
        native_chunk(r#"{"role":"assistant","content":""}"#, "null", true),
        native_chunk(r#"{"content":"Hello"}"#, "null", true),
        native_chunk(r#"{"content":"!"}"#, "null", true),
        native_chunk("{}", r#""stop""#, true),
        format!("{usage}\n\n"),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(out, expected);
}

#[test]
fn native_stream_identical_for_every_split_position() {
    let c = chat_ctx(Protocol::CloudflareNative, true);
    let (whole, _) = run(&c, NATIVE_STREAM.as_bytes());
    for split in 0..=NATIVE_STREAM.len() {
        let (out, t) = run_split(&c, NATIVE_STREAM.as_bytes(), split);
        assert_eq!(out, whole, "split {split}");
        assert!(t.is_complete());
    }
}

#[test]
fn native_stream_without_usage_estimates_in_usage_chunk_and_length_finish() {
    let c = ctx(
        Endpoint::ChatCompletions,
        Protocol::CloudflareNative,
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": true, "max_tokens": 2, "stream_options": {"include_usage": true}}),
        "@cf/x",
    );
    let input = "data: {\"response\":\"abcd\"}\n\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n";
    let (out, _) = run(&c, input.as_bytes());
    assert!(out.contains(r#""finish_reason":"length""#), "{out}");
    let input = "data: {\"response\":\"abcd\"}\n\ndata: [DONE]\n\n";
    let (out, t) = run(&c, input.as_bytes());
    assert!(out.contains(r#""usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8"#), "{out}");
    assert!(out.contains(r#""finish_reason":"stop""#));
    assert_eq!(t.usage(), None);
}

#[test]
fn native_stream_tool_calls() {
    let c = chat_ctx(Protocol::CloudflareNative, false);
    let input = "data: {\"response\":\"\",\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]}\n\ndata: [DONE]\n\n";
    let (out, t) = run(&c, input.as_bytes());
    let expected = [
        native_chunk(r#"{"role":"assistant","content":""}"#, "null", false),
        native_chunk(
            r#"{"tool_calls":[{"index":0,"id":"call_abc_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}"#,
            "null",
            false,
        ),
        native_chunk("{}", r#""tool_calls""#, false),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(out, expected);
    assert_eq!(t.completion_text(), r#"{"city":"Paris"}"#);
}

#[test]
fn native_stream_openai_shaped_frames() {
    let c = chat_ctx(Protocol::CloudflareNative, false);
    let input = concat!(
        r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":""}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );
    let (out, t) = run(&c, input.as_bytes());
    let expected = [
        native_chunk(r#"{"role":"assistant","content":""}"#, "null", false),
        native_chunk(r#"{"content":"Hi"}"#, "null", false),
        native_chunk(r#"{"tool_calls":[{"index":0,"id":"call_abc_0","type":"function","function":{"name":"f","arguments":""}}]}"#, "null", false),
        native_chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}"#, "null", false),
        native_chunk("{}", r#""tool_calls""#, false),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(out, expected);
    assert_eq!(t.completion_text(), "Hi{}");
}

#[test]
fn native_stream_errors() {
    let c = chat_ctx(Protocol::CloudflareNative, false);
    let mut t = StreamTranslator::new(&c);
    let mut out = Vec::new();
    let e = t
        .push(b"data: {\"response\":\"a\"}\n\ndata: {\"errors\":[{\"code\":3040,\"message\":\"Capacity\"}],\"success\":false}\n\n", &mut out)
        .unwrap_err();
    assert_eq!(out.len(), 2);
    assert_eq!((e.status, e.code.as_deref()), (429, Some("rate_limit_exceeded")));
    let event = crate::stream_error_event(&e);
    assert!(event.starts_with(b"data: {\"error\":"));

    let mut t = StreamTranslator::new(&c);
    let e = t.push(b"data: {\"error\":\"boom\"}\n\n", &mut Vec::new()).unwrap_err();
    assert_eq!(e.status, 502);
    let mut t = StreamTranslator::new(&c);
    let e = t.push(b"data: nope\n\n", &mut Vec::new()).unwrap_err();
    assert_eq!(e.code.as_deref(), Some("bad_upstream_response"));
}

#[test]
fn native_stream_ended_early_is_not_complete() {
    let c = chat_ctx(Protocol::CloudflareNative, false);
    let mut t = StreamTranslator::new(&c);
    let mut out = Vec::new();
    t.push(b"data: {\"response\":\"a\"}\n\ndata: {\"resp", &mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert!(t.finish(&mut out).is_err());
    assert!(!t.is_complete());
}
