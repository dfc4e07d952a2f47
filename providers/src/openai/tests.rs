use bytes::Bytes;
use serde_json::json;

use crate::embedding_codec::decode_f32_le;
use crate::test_support::{ctx, json_of, prepared};
use crate::types::{Endpoint, Protocol, Usage};
use crate::{translate_body, translate_body_bytes};

#[test]
fn openai_chat_swaps_model_only_and_keeps_unknown_fields() {
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0.2,
        "x_vendor": {"nested": [1, "two", null]}, "logit_bias": {"1": 2}});
    let p = prepared(Endpoint::ChatCompletions, Protocol::OpenAi, body.clone(), "gpt-4o-mini");
    assert_eq!(p.path, "/chat/completions");
    assert!(!p.stream);
    let mut expected = body;
    expected["model"] = json!("gpt-4o-mini");
    assert_eq!(json_of(&p.body), expected);
    assert_eq!(p.response.upstream_model, "gpt-4o-mini");
    assert_eq!(p.response.response_id, "chatcmpl-abc");
    assert_eq!(p.response.created, 1_764_000_000);
}

#[test]
fn streaming_forces_include_usage_upstream_and_remembers_the_clients_wish() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": true});
    let p = prepared(Endpoint::ChatCompletions, Protocol::OpenAi, body, "gpt-4o-mini");
    assert!(p.stream && !p.response.include_usage);
    assert_eq!(json_of(&p.body)["stream_options"], json!({"include_usage": true}));

    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": true,
        "stream_options": {"include_usage": true, "include_obfuscation": false}});
    let p = prepared(Endpoint::ChatCompletions, Protocol::CloudflareOpenAi, body, "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(p.path, "/v1/chat/completions");
    assert!(p.response.include_usage);
    assert_eq!(json_of(&p.body)["stream_options"], json!({"include_usage": true, "include_obfuscation": false}));

    let body = json!({"model": "m", "prompt": "Hi", "stream": true});
    let p = prepared(Endpoint::Completions, Protocol::OpenAi, body, "gpt-3.5-turbo-instruct");
    assert_eq!(p.path, "/completions");
    assert_eq!(json_of(&p.body)["stream_options"], json!({"include_usage": true}));

    let body = json!({"model": "m", "input": "Hi", "stream": true});
    let p = prepared(Endpoint::Responses, Protocol::OpenAi, body, "gpt-4o");
    assert_eq!(p.path, "/responses");
    assert!(p.stream);
    assert_eq!(json_of(&p.body).get("stream_options"), None);
}

#[test]
fn embeddings_paths_and_base64_on_workers_ai_compat() {
    let body = json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"});
    let p = prepared(Endpoint::Embeddings, Protocol::OpenAi, body.clone(), "text-embedding-3-small");
    assert_eq!(p.path, "/embeddings");
    assert_eq!(json_of(&p.body)["encoding_format"], "base64");
    let p = prepared(Endpoint::Embeddings, Protocol::CloudflareOpenAi, body, "@cf/baai/bge-base-en-v1.5");
    assert_eq!(p.path, "/v1/embeddings");
    assert_eq!(json_of(&p.body)["encoding_format"], "float");
    assert_eq!(json_of(&p.body)["model"], "@cf/baai/bge-base-en-v1.5");
}

#[test]
fn workers_ai_compat_rejects_completions_and_responses() {
    for (endpoint, body) in [
        (Endpoint::Completions, json!({"model": "m", "prompt": "x"})),
        (Endpoint::Responses, json!({"model": "m", "input": "x"})),
    ] {
        for protocol in [Protocol::CloudflareOpenAi, Protocol::CloudflareNative] {
            let body = crate::test_support::obj(body.clone());
            let summary = crate::validate(endpoint, &body).unwrap();
            let e = crate::prepare(endpoint, protocol, &body, &summary, "@cf/x", "id".into(), 0).unwrap_err();
            assert_eq!(e.code, Some("unsupported_endpoint"));
        }
    }
}

#[test]
fn openai_body_passes_through_zero_copy_with_usage() {
    let c = ctx(
        Endpoint::ChatCompletions,
        Protocol::OpenAi,
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
        "gpt-4o-mini",
    );
    let body = Bytes::from_static(br#"{"id":"chatcmpl-9x8y7z","object":"chat.completion","created":1764000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_abc123","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":0}}}"#);
    let t = translate_body_bytes(&c, body.clone()).unwrap();
    assert_eq!(t.body.as_ptr(), body.as_ptr());
    assert_eq!(
        t.usage,
        Some(Usage { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, cached_tokens: 3, reasoning_tokens: 0 })
    );
    assert!(!t.usage_estimated);
    let t = translate_body(&c, &body).unwrap();
    assert_eq!(t.body, body);
}

#[test]
fn unreadable_pass_through_body_is_502() {
    let c = ctx(
        Endpoint::ChatCompletions,
        Protocol::OpenAi,
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
        "gpt-4o-mini",
    );
    let e = translate_body(&c, b"<html>").unwrap_err();
    assert_eq!((e.status, e.retryable), (502, false));
}

#[test]
fn workers_ai_compat_missing_usage_is_estimated() {
    let c = ctx(
        Endpoint::ChatCompletions,
        Protocol::CloudflareOpenAi,
        json!({"model": "m", "messages": [{"role": "user", "content": "abcd"}]}),
        "@cf/x",
    );
    let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"abcdefgh"},"finish_reason":"stop"}]}"#;
    let t = translate_body(&c, body).unwrap();
    assert_eq!(&t.body[..], &body[..]);
    assert!(t.usage_estimated);
    assert_eq!(t.usage, Some(Usage { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9, ..Usage::default() }));
}

#[test]
fn workers_ai_compat_embeddings_encoded_to_base64() {
    let c = ctx(
        Endpoint::Embeddings,
        Protocol::CloudflareOpenAi,
        json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}),
        "@cf/baai/bge-base-en-v1.5",
    );
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,2.0]},{"object":"embedding","index":1,"embedding":[3.0,4.0]}],"model":"@cf/baai/bge-base-en-v1.5"}"#;
    let t = translate_body(&c, body).unwrap();
    let v = json_of(&t.body);
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAAEA=");
    assert_eq!(v["data"][1]["embedding"], "AABAQAAAgEA=");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["model"], "@cf/baai/bge-base-en-v1.5");
    assert_eq!(v["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));
    assert!(t.usage_estimated);
    assert_eq!(decode_f32_le(v["data"][0]["embedding"].as_str().unwrap()), Some(vec![1.0, 2.0]));

    // With upstream usage, it is kept and trusted.
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0]}],"model":"m","usage":{"prompt_tokens":5,"total_tokens":5}}"#;
    let t = translate_body(&c, body).unwrap();
    assert!(!t.usage_estimated);
    assert_eq!(t.usage.map(|u| u.prompt_tokens), Some(5));

    // Float asked: untouched bytes, usage estimated when missing.
    let c = ctx(Endpoint::Embeddings, Protocol::CloudflareOpenAi, json!({"model": "m", "input": "abcd"}), "@cf/b");
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0]}],"model":"m"}"#;
    let t = translate_body(&c, body).unwrap();
    assert_eq!(&t.body[..], &body[..]);
    assert_eq!((t.usage.map(|u| u.prompt_tokens), t.usage_estimated), (Some(1), true));
}
