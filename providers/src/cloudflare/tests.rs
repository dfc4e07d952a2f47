use serde_json::json;

use crate::embedding_codec::decode_f32_le;
use crate::test_support::{ctx, json_of, obj, prepared};
use crate::translate_body;
use crate::types::{Endpoint, Protocol, ResponseContext, Usage};

const MODEL: &str = "@cf/meta/llama-3.1-8b-instruct";
const EMB: &str = "@cf/baai/bge-base-en-v1.5";

fn chat_ctx(extra: serde_json::Value) -> ResponseContext {
    let mut body = json!({"model": "fast", "messages": [{"role": "user", "content": "Hi"}]});
    if let (Some(b), serde_json::Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    ctx(Endpoint::ChatCompletions, Protocol::CloudflareNative, body, MODEL)
}

#[test]
fn native_chat_answer_becomes_chat_completion_exactly() {
    let c = chat_ctx(json!({"max_tokens": 256}));
    let body = br#"{"result":{"response":"Hello! How can I help?","usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}},"success":true,"errors":[],"messages":[]}"#;
    let t = translate_body(&c, body).unwrap();
    assert_eq!(
        std::str::from_utf8(&t.body).unwrap(),
        r#"{"id":"chatcmpl-abc","object":"chat.completion","created":1764000000,"model":"@cf/meta/llama-3.1-8b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#
    );
    assert_eq!(t.usage, Some(Usage { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, ..Usage::default() }));
    assert!(!t.usage_estimated);
}

#[test]
fn native_finish_reason_length_when_max_tokens_reached() {
    let c = chat_ctx(json!({"max_tokens": 7}));
    let body = br#"{"result":{"response":"Hello! How can I","usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}},"success":true,"errors":[],"messages":[]}"#;
    assert_eq!(json_of(&translate_body(&c, body).unwrap().body)["choices"][0]["finish_reason"], "length");
}

#[test]
fn native_tool_calls_get_ids_and_string_arguments() {
    let c = chat_ctx(json!({}));
    let body = br#"{"result":{"response":null,"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"get_time","arguments":{}}],"usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}},"success":true,"errors":[],"messages":[]}"#;
    let v = json_of(&translate_body(&c, body).unwrap().body);
    assert_eq!(
        v["choices"][0],
        json!({"index": 0, "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
            {"id": "call_abc_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_abc_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ]}, "logprobs": null, "finish_reason": "tool_calls"})
    );
}

#[test]
fn native_openai_shaped_result_and_json_mode_object() {
    let c = chat_ctx(json!({}));
    let body = br#"{"result":{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}},"success":true,"errors":[],"messages":[]}"#;
    let v = json_of(&translate_body(&c, body).unwrap().body);
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(v["id"], "chatcmpl-abc");
    let body = br#"{"result":{"response":{"a":"b"}},"success":true,"errors":[],"messages":[]}"#;
    let t = translate_body(&c, body).unwrap();
    assert_eq!(json_of(&t.body)["choices"][0]["message"]["content"], r#"{"a":"b"}"#);
    // No usage: estimated from the request and the answer.
    assert!(t.usage_estimated);
    assert_eq!(t.usage.map(|u| (u.prompt_tokens, u.completion_tokens)), Some((7, 3)));
    assert_eq!(json_of(&t.body)["usage"]["total_tokens"], 10);
}

#[test]
fn native_failures() {
    let c = chat_ctx(json!({}));
    let e = translate_body(&c, b"oops").unwrap_err();
    assert_eq!(e.status, 502);
    let e = translate_body(&c, br#"{"result":null,"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded, please try again."}],"messages":[]}"#).unwrap_err();
    assert_eq!((e.status, e.retryable), (429, true));
    let e = translate_body(&c, br#"{"result":"x","success":true}"#).unwrap_err();
    assert_eq!(e.status, 502);
}

#[test]
fn native_embeddings_request() {
    let p = prepared(
        Endpoint::Embeddings,
        Protocol::CloudflareNative,
        json!({"model": "m", "input": "hello", "pooling": "cls", "user": "u", "encoding_format": "base64"}),
        EMB,
    );
    assert_eq!(p.path, "/run/@cf/baai/bge-base-en-v1.5");
    assert!(!p.stream);
    assert_eq!(json_of(&p.body), json!({"text": ["hello"], "pooling": "cls"}));
    let p = prepared(Endpoint::Embeddings, Protocol::CloudflareNative, json!({"model": "m", "input": ["a", "b"]}), EMB);
    assert_eq!(json_of(&p.body), json!({"text": ["a", "b"]}));
}

#[test]
fn native_embeddings_rejections() {
    let cases = [
        (json!({"model": "m", "input": [1, 2]}), "input"),
        (json!({"model": "m", "input": [[1], [2]]}), "input"),
        (json!({"model": "m", "input": vec!["x"; 101]}), "input"),
        (json!({"model": "m", "input": "x", "dimensions": 256}), "dimensions"),
    ];
    for (body, param) in cases {
        let body = obj(body);
        let summary = crate::validate(Endpoint::Embeddings, &body).unwrap();
        let e = crate::prepare(Endpoint::Embeddings, Protocol::CloudflareNative, &body, &summary, EMB, "id".into(), 0)
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some(param));
    }
}

#[test]
fn native_embeddings_answer_as_floats_and_base64() {
    let body = br#"{"result":{"shape":[2,2],"data":[[1.0,2.0],[0.013,-0.042]],"pooling":"mean"},"success":true,"errors":[],"messages":[]}"#;
    let c = ctx(
        Endpoint::Embeddings,
        Protocol::CloudflareNative,
        json!({"model": "m", "input": ["abcd", "abcdefgh"]}),
        EMB,
    );
    let t = translate_body(&c, body).unwrap();
    assert_eq!(
        std::str::from_utf8(&t.body).unwrap(),
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,2.0]},{"object":"embedding","index":1,"embedding":[0.013,-0.042]}],"model":"@cf/baai/bge-base-en-v1.5","usage":{"prompt_tokens":3,"total_tokens":3}}"#
    );
    assert!(t.usage_estimated);
    assert_eq!(t.usage.map(|u| u.prompt_tokens), Some(3));

    let c = ctx(
        Endpoint::Embeddings,
        Protocol::CloudflareNative,
        json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}),
        EMB,
    );
    let v = json_of(&translate_body(&c, body).unwrap().body);
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAAEA=");
    assert_eq!(decode_f32_le(v["data"][1]["embedding"].as_str().unwrap()), Some(vec![0.013f32, -0.042]));

    let e = translate_body(&c, br#"{"result":{"data":[["x"]]},"success":true}"#).unwrap_err();
    assert_eq!(e.status, 502);
    let e = translate_body(&c, br#"{"result":null,"success":false,"errors":[{"code":3036,"message":"daily"}]}"#)
        .unwrap_err();
    assert!(e.out_of_credit);
}
