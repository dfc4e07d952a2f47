//! Property-based fuzzing of everything in `sluice-providers` that reads client or upstream input:
//! request validation and preparation, answer and error translation, and SSE stream translation.
//!
//! Every property holds for arbitrary input: no panic, and a result that is either `Ok` with a
//! well-formed value or a proper error. Case counts are kept small so `cargo test` stays fast; see
//! `docs/fuzzing.md` for a long session (`PROPTEST_CASES=100000`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use sluice_providers::sse::SseDecoder;
use sluice_providers::{
    prepare, translate_body, translate_body_bytes, translate_error, validate, EncodingFormat, Endpoint, Protocol,
    ResponseContext, StreamTranslator, UpstreamError, MAX_EVENT_BYTES,
};

const ENDPOINTS: [Endpoint; 4] =
    [Endpoint::ChatCompletions, Endpoint::Embeddings, Endpoint::Completions, Endpoint::Responses];
const PROTOCOLS: [Protocol; 3] = [Protocol::OpenAi, Protocol::CloudflareNative, Protocol::CloudflareOpenAi];

/// Field names the code under test reads, so random objects hit real branches.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "stream",
    "stream_options",
    "include_usage",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "parallel_tool_calls",
    "stop",
    "tools",
    "tool_choice",
    "type",
    "function",
    "name",
    "arguments",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "response_format",
    "json_schema",
    "schema",
    "user",
    "input",
    "encoding_format",
    "dimensions",
    "prompt",
    "text",
    "refusal",
    "modalities",
    "instructions",
    "best_of",
    "echo",
    "suffix",
    "top_k",
    "id",
    "index",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "choices",
    "message",
    "delta",
    "finish_reason",
    "result",
    "response",
    "success",
    "errors",
    "error",
    "code",
    "message",
    "param",
    "data",
    "embedding",
    "shape",
    "object",
    "reasoning_content",
    "input_tokens",
    "output_tokens",
];

/// String values the code under test compares against.
const WORDS: &[&str] = &[
    "",
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "image_url",
    "refusal",
    "auto",
    "none",
    "required",
    "json_schema",
    "json_object",
    "float",
    "base64",
    "[DONE]",
    "gpt-4o",
    "call_1",
    "stop",
    "length",
    "tool_calls",
    "invalid_request_error",
    "authentication_error",
    "rate_limit_error",
    "insufficient_quota",
    "server_error",
    "response.output_text.delta",
    "response.completed",
    "{}",
    "{\"a\":1}",
];

/// `n` cases per property, unless `PROPTEST_CASES` asks for a longer session.
fn cases(n: u32) -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig { cases: n, ..config }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => select(KEYS).prop_map(str::to_owned), 1 => "(?s).{0,8}"]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        select(vec![0i64, 1, -1, 2, 3, 4, 5, 20, 21, 128, 129, 2048, 2049, i64::MAX, i64::MIN]).prop_map(Value::from),
        select(vec![u64::MAX, u64::MAX - 1, 1 << 53]).prop_map(Value::from),
        // `Value::from(f64)` turns NaN and infinities into null.
        any::<f64>().prop_map(Value::from),
        select(vec![0.0f64, 0.5, 1.0, 1.5, 2.0, 2.5, -2.0, -2.5, 12.0, 1e300, -0.0]).prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        select(WORDS).prop_map(Value::from),
        "(?s).{0,16}".prop_map(Value::from),
    ]
}

/// Arbitrary JSON of bounded depth and size.
fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json_value()), 0..10).prop_map(|kv| kv.into_iter().collect())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z ]{1,12}", "\\PC{1,12}"]
}

fn content() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        Just(json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})),
        text().prop_map(|t| json!({"type": "refusal", "refusal": t})),
    ];
    prop_oneof![text().prop_map(Value::from), prop::collection::vec(part, 1..4).prop_map(Value::Array)]
}

fn tool_call() -> impl Strategy<Value = Value> {
    ("[a-z_]{1,8}", "\\{\"[a-z]{1,4}\":[0-9]{1,3}\\}").prop_map(
        |(name, args)| json!({"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}),
    )
}

fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        (select(vec!["system", "developer", "user"]), content()).prop_map(|(r, c)| json!({"role": r, "content": c})),
        text().prop_map(|c| json!({"role": "assistant", "content": c})),
        prop::collection::vec(tool_call(), 1..3)
            .prop_map(|calls| json!({"role": "assistant", "content": null, "tool_calls": calls})),
        text().prop_map(|c| json!({"role": "tool", "tool_call_id": "call_1", "content": c})),
    ]
}

/// `Some((key, value))` half of the time: the optional fields of a request.
fn opt<S: Strategy<Value = Value>>(key: &'static str, s: S) -> impl Strategy<Value = Option<(&'static str, Value)>> {
    prop::option::of(s.prop_map(move |v| (key, v)))
}

fn build(required: Vec<(&'static str, Value)>, optional: Vec<Option<(&'static str, Value)>>) -> Value {
    Value::Object(required.into_iter().chain(optional.into_iter().flatten()).map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A chat completions body valid by OpenAI's rules.
fn valid_chat() -> impl Strategy<Value = Value> {
    let stream = prop_oneof![
        Just(None),
        Just(Some(json!(false))),
        Just(Some(json!(true))),
        any::<bool>().prop_map(|u| Some(json!({"include_usage": u}))),
    ];
    let sampling = (
        opt("max_tokens", (1u64..).prop_map(Value::from)),
        opt("max_completion_tokens", (1u64..=100_000).prop_map(Value::from)),
        opt("n", (1i64..=128).prop_map(Value::from)),
        opt("temperature", (0.0f64..=2.0).prop_map(Value::from)),
        opt("top_p", (0.0f64..=1.0).prop_map(Value::from)),
        opt("presence_penalty", (-2.0f64..=2.0).prop_map(Value::from)),
        opt("frequency_penalty", (-2.0f64..=2.0).prop_map(Value::from)),
        opt("seed", any::<i64>().prop_map(Value::from)),
        opt("logprobs", any::<bool>().prop_map(Value::from)),
        opt("top_logprobs", (0i64..=20).prop_map(Value::from)),
    );
    let shape = (
        opt(
            "stop",
            prop_oneof![text().prop_map(Value::from), prop::collection::vec(text(), 0..=4).prop_map(Value::from)],
        ),
        opt(
            "tools",
            prop::collection::vec(
                "[a-z_]{1,8}".prop_map(|n| json!({"type": "function", "function": {"name": n}})),
                0..3,
            )
            .prop_map(Value::Array),
        ),
        opt("tool_choice", select(vec![json!("auto"), json!("none"), json!("required"), json!({"type": "function"})])),
        opt(
            "response_format",
            select(vec![
                json!({"type": "text"}),
                json!({"type": "json_object"}),
                json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
            ]),
        ),
        opt("user", text().prop_map(Value::from)),
        opt("logit_bias", Just(json!({}))),
        opt("parallel_tool_calls", any::<bool>().prop_map(Value::from)),
        opt("top_k", (1u64..100).prop_map(Value::from)),
    );
    ("[a-z0-9.-]{1,16}", prop::collection::vec(message(), 1..4), stream, sampling, shape).prop_map(
        |(model, messages, stream, s, h)| {
            let mut optional =
                vec![s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7, s.8, s.9, h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7];
            match stream {
                Some(Value::Object(options)) => {
                    optional.push(Some(("stream", json!(true))));
                    optional.push(Some(("stream_options", Value::Object(options))));
                }
                other => optional.push(other.map(|s| ("stream", s))),
            }
            build(vec![("model", Value::from(model)), ("messages", Value::Array(messages))], optional)
        },
    )
}

fn token_ids() -> impl Strategy<Value = Value> {
    prop::collection::vec(any::<u32>().prop_map(Value::from), 1..6).prop_map(Value::Array)
}

/// An embeddings body valid by OpenAI's rules.
fn valid_embeddings() -> impl Strategy<Value = Value> {
    let input = prop_oneof![
        text().prop_map(Value::from),
        prop::collection::vec(text().prop_map(Value::from), 1..6).prop_map(Value::Array),
        token_ids(),
        prop::collection::vec(token_ids(), 1..4).prop_map(Value::Array),
    ];
    (
        "[a-z0-9.-]{1,16}",
        input,
        opt("encoding_format", select(vec![json!("float"), json!("base64")])),
        opt("dimensions", (1u64..=4096).prop_map(Value::from)),
        opt("user", text().prop_map(Value::from)),
        opt("pooling", Just(json!("cls"))),
    )
        .prop_map(|(model, input, e, d, u, p)| {
            build(vec![("model", Value::from(model)), ("input", input)], vec![e, d, u, p])
        })
}

/// A legacy completions body valid by OpenAI's rules.
fn valid_completions() -> impl Strategy<Value = Value> {
    let prompt = prop_oneof![
        "[a-z ]{0,12}".prop_map(Value::from),
        prop::collection::vec("[a-z ]{0,8}".prop_map(Value::from), 1..4).prop_map(Value::Array),
        token_ids(),
    ];
    (
        "[a-z0-9.-]{1,16}",
        prompt,
        opt("stream", any::<bool>().prop_map(Value::from)),
        opt("max_tokens", (1u64..).prop_map(Value::from)),
        opt("n", (1i64..=128).prop_map(Value::from)),
        opt("best_of", (1i64..=20).prop_map(Value::from)),
        opt("logprobs", (0i64..=5).prop_map(Value::from)),
        opt("echo", any::<bool>().prop_map(Value::from)),
        opt("suffix", text().prop_map(Value::from)),
    )
        .prop_map(|(model, prompt, s, m, n, b, l, e, x)| {
            build(vec![("model", Value::from(model)), ("prompt", prompt)], vec![s, m, n, b, l, e, x])
        })
}

/// A Responses API body valid by the gateway's rules.
fn valid_responses() -> impl Strategy<Value = Value> {
    let input = prop_oneof![
        text().prop_map(Value::from),
        prop::collection::vec(
            (select(vec!["user", "assistant", "system"]), content())
                .prop_map(|(r, c)| json!({"role": r, "content": c})),
            0..4
        )
        .prop_map(Value::Array),
    ];
    (
        "[a-z0-9.-]{1,16}",
        opt("input", input),
        opt("stream", any::<bool>().prop_map(Value::from)),
        opt("max_output_tokens", (1u64..).prop_map(Value::from)),
        opt("instructions", text().prop_map(Value::from)),
        opt("tools", Just(json!([]))),
    )
        .prop_map(|(model, i, s, m, x, t)| build(vec![("model", Value::from(model))], vec![i, s, m, x, t]))
}

/// How one node of a JSON tree is changed.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the node with another value (a type or value change).
    Replace(Index, Value),
    /// Remove the node from its parent object or array.
    Remove(Index),
    /// Add a key to an object node.
    Insert(Index, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => (any::<Index>(), key(), json_value()).prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The node at pre-order position `*n` (counting down), if it is in `value`.
fn node_mut<'a>(value: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(value);
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().find_map(|v| node_mut(v, n)),
        Value::Object(map) => map.values_mut().find_map(|v| node_mut(v, n)),
        _ => None,
    }
}

/// Removes the child at pre-order position `n` (> 0) from its parent.
fn remove_node(value: &mut Value, n: &mut usize) -> bool {
    match value {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 {
                    items.remove(i);
                    return true;
                }
                *n -= 1;
                if remove_node(&mut items[i], n) {
                    return true;
                }
            }
            false
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if *n == 0 {
                    map.shift_remove(&k);
                    return true;
                }
                *n -= 1;
                if remove_node(&mut map[&k], n) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn apply(value: &mut Value, mutation: &Mutation) {
    let nodes = count_nodes(value);
    match mutation {
        Mutation::Replace(i, v) => {
            if let Some(node) = node_mut(value, &mut i.index(nodes)) {
                *node = v.clone();
            }
        }
        Mutation::Remove(i) if nodes > 1 => {
            let mut n = i.index(nodes - 1);
            remove_node(value, &mut n);
        }
        Mutation::Remove(_) => {}
        Mutation::Insert(i, k, v) => {
            if let Some(Value::Object(map)) = node_mut(value, &mut i.index(nodes)) {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn mutated<S: Strategy<Value = Value>>(valid: S) -> impl Strategy<Value = (Value, bool)> {
    (valid, prop::collection::vec(mutation(), 0..3)).prop_map(|(mut value, mutations)| {
        for m in &mutations {
            apply(&mut value, m);
        }
        (value, !mutations.is_empty())
    })
}

/// Byte-level damage to a serialized body.
#[derive(Clone, Debug)]
enum ByteDamage {
    None,
    Truncate(Index),
    Flip(Index, u8),
    Splice(Index, Vec<u8>),
}

fn byte_damage() -> impl Strategy<Value = ByteDamage> {
    prop_oneof![
        3 => Just(ByteDamage::None),
        1 => any::<Index>().prop_map(ByteDamage::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteDamage::Flip(i, b)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(i, b)| ByteDamage::Splice(i, b)),
    ]
}

fn damage(mut bytes: Vec<u8>, d: &ByteDamage) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    match d {
        ByteDamage::None => {}
        ByteDamage::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        ByteDamage::Flip(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] ^= b | 1;
        }
        ByteDamage::Splice(i, b) => {
            let at = i.index(bytes.len());
            bytes.splice(at..at, b.iter().copied());
        }
    }
    bytes
}

/// Upstream answers as the mock (and the real providers) send them: see
/// `shared/reference/wire-examples.md`.
fn upstream_samples() -> Vec<Value> {
    vec![
        json!({"id":"chatcmpl-9x8y7z","object":"chat.completion","created":1764000000,"model":"gpt-4o-mini-2024-07-18",
            "system_fingerprint":"fp_abc123",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
            "usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,
                     "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}),
        json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":null,
              "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}),
        json!({"id":"cmpl-1","object":"text_completion","choices":[{"text":"hi","index":0,"finish_reason":"stop"}]}),
        json!({"object":"list","model":"text-embedding-3-small",
            "data":[{"object":"embedding","index":0,"embedding":[0.013,-0.042,1.5]},{"object":"embedding","index":1,"embedding":[0.5,2.0,-1.0]}],
            "usage":{"prompt_tokens":2,"total_tokens":2}}),
        json!({"object":"list","model":"text-embedding-3-small",
            "data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAEA="}],"usage":{"prompt_tokens":2,"total_tokens":2}}),
        json!({"object":"response","usage":{"input_tokens":5,"output_tokens":7,"input_tokens_details":{"cached_tokens":2}}}),
        json!({"result":{"response":"Hello! How can I help?","usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}},
            "success":true,"errors":[],"messages":[]}),
        json!({"result":{"response":null,"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]},"success":true,"errors":[],"messages":[]}),
        json!({"result":{"choices":[{"index":0,"message":{"role":"assistant","content":"x",
            "tool_calls":[{"id":"","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":1,"completion_tokens":1}},"success":true}),
        json!({"result":{"shape":[2,3],"data":[[0.013,-0.042,0.5],[0.021,0.007,1.0]],"pooling":"mean"},
            "success":true,"errors":[],"messages":[]}),
        json!({"result":null,"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded, please try again."}],"messages":[]}),
        json!({"errors":[{"code":3036,"message":"daily free allocation"},{"code":10000,"message":"auth"}],"success":false}),
        json!({"error":{"message":"The model `gpt-5-nano-x` does not exist or you do not have access to it.",
            "type":"invalid_request_error","param":"model","code":"model_not_found"}}),
        json!({"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}),
        json!({"error":"plain text error"}),
    ]
}

/// A body an upstream might send: a sample damaged in its JSON tree and then in its bytes, arbitrary
/// JSON, or arbitrary bytes.
fn upstream_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (select(upstream_samples()), prop::collection::vec(mutation(), 0..3), byte_damage()).prop_map(
            |(mut value, mutations, d)| {
                for m in &mutations {
                    apply(&mut value, m);
                }
                damage(serde_json::to_vec(&value).unwrap(), &d)
            }
        ),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    select(ENDPOINTS.to_vec())
}

fn protocol() -> impl Strategy<Value = Protocol> {
    select(PROTOCOLS.to_vec())
}

fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..100_000, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

/// Any response context, including ones validation would never build (huge estimates and caps).
fn response_context() -> impl Strategy<Value = ResponseContext> {
    (
        protocol(),
        endpoint(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(edge_u64()),
        prop_oneof![Just("chatcmpl-abc".to_owned()), "(?s).{0,12}"],
        any::<u64>(),
        prop::option::of(edge_u64()),
        prop_oneof![4 => 0u64..100_000, 1 => edge_u64()],
    )
        .prop_map(
            |(protocol, endpoint, stream, include_usage, base64, dimensions, response_id, created, max, est)| {
                ResponseContext {
                    protocol,
                    endpoint,
                    upstream_model: "up-model".into(),
                    stream,
                    include_usage,
                    encoding_format: if base64 { EncodingFormat::Base64 } else { EncodingFormat::Float },
                    dimensions,
                    response_id,
                    created,
                    max_output_tokens: max,
                    prompt_tokens_estimate: est,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------------------------

fn check_upstream_error(e: &UpstreamError) -> Result<(), TestCaseError> {
    prop_assert!((400..=599).contains(&e.status), "client status {} for {e:?}", e.status);
    prop_assert!(!e.message.is_empty() && !e.error_type.is_empty(), "{e:?}");
    prop_assert!(!(e.retryable && e.out_of_credit), "{e:?}");
    prop_assert!(!e.credentials_rejected || e.status == 502, "{e:?}");
    let json: Value = serde_json::from_slice(&e.to_openai_json()).unwrap();
    prop_assert_eq!(json["error"]["message"].as_str(), Some(e.message.as_str()));
    let event = sluice_providers::stream_error_event(e);
    prop_assert!(event.starts_with(b"data: ") && event.ends_with(b"\n\n"));
    Ok(())
}

/// Validates `body` for `endpoint`, and when valid prepares it for every protocol, checking what
/// each step promises. Returns whether validation passed.
fn check_validate_and_prepare(endpoint: Endpoint, body: &Map<String, Value>) -> Result<bool, TestCaseError> {
    let summary = match validate(endpoint, body) {
        Ok(summary) => summary,
        Err(e) => {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.code.is_some(), "{e:?}");
            return Ok(false);
        }
    };
    prop_assert_eq!(body.get("model").and_then(Value::as_str), Some(summary.model.as_str()));
    prop_assert!(!summary.model.is_empty());
    prop_assert!(summary.n >= 1);
    prop_assert!(summary.max_output_tokens != Some(0));
    for protocol in PROTOCOLS {
        let result = prepare(endpoint, protocol, body, &summary, "up-model", "chatcmpl-abc".into(), 1_764_000_000);
        let prepared = match result {
            Ok(prepared) => prepared,
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                prop_assert!(protocol != Protocol::OpenAi, "OpenAI serves every valid request: {e:?}");
                continue;
            }
        };
        prop_assert!(
            protocol != Protocol::CloudflareOpenAi
                || matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Embeddings)
        );
        prop_assert!(prepared.path.starts_with('/'));
        prop_assert_eq!(prepared.stream, summary.stream && endpoint != Endpoint::Embeddings);
        prop_assert_eq!(prepared.response.protocol, protocol);
        let sent: Value = serde_json::from_slice(&prepared.body).unwrap();
        prop_assert!(sent.is_object());
        if protocol == Protocol::OpenAi {
            // Pass-through: the client's body, byte for byte, with `model` swapped (and usage
            // asked upstream when streaming).
            let mut expected = body.clone();
            expected.insert("model".into(), json!("up-model"));
            if summary.stream && matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions) {
                let mut options = body.get("stream_options").and_then(Value::as_object).cloned().unwrap_or_default();
                options.insert("include_usage".into(), json!(true));
                expected.insert("stream_options".into(), Value::Object(options));
            }
            prop_assert_eq!(&prepared.body[..], &serde_json::to_vec(&expected).unwrap()[..]);
        }
    }
    Ok(true)
}

fn check_translate_body(ctx: &ResponseContext, body: &[u8]) -> Result<(), TestCaseError> {
    let result = translate_body(ctx, body);
    let again = translate_body_bytes(ctx, Bytes::copy_from_slice(body));
    match (&result, &again) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(&a.body, &b.body);
            prop_assert_eq!(a.usage, b.usage);
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        _ => prop_assert!(false, "translate_body and translate_body_bytes disagree"),
    }
    match result {
        Ok(t) => {
            prop_assert!(t.usage.is_some());
            let base64_repair = ctx.protocol == Protocol::CloudflareOpenAi
                && ctx.endpoint == Endpoint::Embeddings
                && ctx.encoding_format == EncodingFormat::Base64;
            if ctx.protocol != Protocol::CloudflareNative && !base64_repair {
                // Pass-through reads only `usage` (fields it skips are not validated), and must
                // have seen an object.
                prop_assert_eq!(&t.body[..], body, "OpenAI-shaped answers pass through unchanged");
                prop_assert_eq!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{'));
            } else {
                // Built here: always a JSON object.
                let out: Value = serde_json::from_slice(&t.body).unwrap();
                prop_assert!(out.is_object());
            }
        }
        Err(e) => check_upstream_error(&e)?,
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn validate_and_prepare_never_panic_on_arbitrary_objects(body in json_object()) {
        for endpoint in ENDPOINTS {
            check_validate_and_prepare(endpoint, &body)?;
        }
    }

    #[test]
    fn near_valid_chat_requests((body, was_mutated) in mutated(valid_chat())) {
        let Value::Object(body) = body else { return Ok(()) };
        let valid = check_validate_and_prepare(Endpoint::ChatCompletions, &body)?;
        prop_assert!(valid || was_mutated, "a valid chat request was refused: {body:?}");
        for endpoint in [Endpoint::Completions, Endpoint::Responses] {
            check_validate_and_prepare(endpoint, &body)?;
        }
    }

    #[test]
    fn near_valid_embeddings_requests((body, was_mutated) in mutated(valid_embeddings())) {
        let Value::Object(body) = body else { return Ok(()) };
        let valid = check_validate_and_prepare(Endpoint::Embeddings, &body)?;
        prop_assert!(valid || was_mutated, "a valid embeddings request was refused: {body:?}");
    }

    #[test]
    fn near_valid_completions_and_responses_requests(
        (completions, c_mutated) in mutated(valid_completions()),
        (responses, r_mutated) in mutated(valid_responses()),
    ) {
        if let Value::Object(body) = completions {
            let valid = check_validate_and_prepare(Endpoint::Completions, &body)?;
            prop_assert!(valid || c_mutated, "a valid completions request was refused: {body:?}");
        }
        if let Value::Object(body) = responses {
            let valid = check_validate_and_prepare(Endpoint::Responses, &body)?;
            prop_assert!(valid || r_mutated, "a valid responses request was refused: {body:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Non-streaming answers and errors
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn translate_body_never_panics(ctx in response_context(), body in upstream_body()) {
        check_translate_body(&ctx, &body)?;
    }

    #[test]
    fn translate_error_always_gives_a_client_error(
        protocol in protocol(),
        status in prop_oneof![select(vec![200u16, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504]), 100u16..1000, any::<u16>()],
        body in upstream_body(),
    ) {
        check_upstream_error(&translate_error(protocol, status, &body))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

const OPENAI_STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\r\n\r\n",
    ": keep-alive\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

const NATIVE_STREAM: &str = concat!(
    "data: {\"response\":\"Hello\",\"p\":\"abcdefgh\"}\n\n",
    "data: {\"response\":\"!\",\"p\":\"ab\"}\r\n\r\n",
    "data: {\"response\":\"\",\"tool_calls\":[{\"name\":\"f\",\"arguments\":{\"a\":1}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" more\",\"tool_calls\":[{\"index\":3,\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,\"total_tokens\":14}}\n\n",
    "data: [DONE]\n\n",
);

const RESPONSES_STREAM: &str = concat!(
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
);

/// Everything a stream run yields: output events, the error (if any), and the translator's facts.
#[derive(Debug, PartialEq)]
struct Run {
    out: Vec<u8>,
    events: usize,
    error: Option<UpstreamError>,
    complete: bool,
    usage: Option<sluice_providers::Usage>,
    text: String,
    forwarded: u64,
}

/// Feeds `input` cut at the sorted positions `cuts`, stopping at the first error as the proxy does.
fn run_stream(ctx: &ResponseContext, input: &[u8], cuts: &[usize]) -> Result<Run, TestCaseError> {
    let mut t = StreamTranslator::new(ctx);
    let mut out = Vec::new();
    let mut error = None;
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        if let Err(e) = t.push(&input[start..cut], &mut out) {
            error = Some(e);
            break;
        }
        start = cut;
    }
    if error.is_none() {
        error = t.finish(&mut out).err();
    }
    for event in &out {
        prop_assert!(event.ends_with(b"\n"), "an event without its line end: {event:?}");
    }
    if let Some(e) = &error {
        check_upstream_error(e)?;
    }
    prop_assert_eq!(out.len() as u64, t.events_forwarded());
    Ok(Run {
        out: out.concat(),
        events: out.len(),
        error,
        complete: t.is_complete(),
        usage: t.usage(),
        text: t.completion_text().to_owned(),
        forwarded: t.events_forwarded(),
    })
}

fn stream_ctx(protocol: Protocol, endpoint: Endpoint, include_usage: bool) -> ResponseContext {
    ResponseContext {
        protocol,
        endpoint,
        upstream_model: "up-model".into(),
        stream: true,
        include_usage,
        encoding_format: EncodingFormat::Float,
        dimensions: None,
        response_id: "chatcmpl-abc".into(),
        created: 1_764_000_000,
        max_output_tokens: Some(2),
        prompt_tokens_estimate: 7,
    }
}

fn valid_streams() -> Vec<(ResponseContext, &'static str)> {
    let mut streams = Vec::new();
    for include_usage in [false, true] {
        for protocol in [Protocol::OpenAi, Protocol::CloudflareOpenAi] {
            streams.push((stream_ctx(protocol, Endpoint::ChatCompletions, include_usage), OPENAI_STREAM));
        }
        streams.push((stream_ctx(Protocol::CloudflareNative, Endpoint::ChatCompletions, include_usage), NATIVE_STREAM));
    }
    streams.push((stream_ctx(Protocol::OpenAi, Endpoint::Responses, false), RESPONSES_STREAM));
    streams
}

/// SSE-looking bytes: lines from a pool of real and broken fields, joined by assorted line ends.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        select(vec![
            "data: [DONE]",
            "data: {\"response\":\"x\"}",
            "data: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":18446744073709551615,\"completion_tokens\":1}}",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":18446744073709551615,\"function\":{\"name\":\"f\"}}]}}]}",
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}",
            "data: {\"success\":false,\"errors\":[{\"code\":3040}]}",
            "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1}}}",
            "event: response.output_text.delta",
            "data:",
            "data",
            ": keep-alive",
            "",
            "\r",
            "id: 1",
            "retry: 10",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        json_value().prop_map(|v| [b"data: ".as_slice(), &serde_json::to_vec(&v).unwrap()].concat()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    let end = select(vec![&b"\n"[..], b"\r\n", b"\n\n", b"\r\n\r\n", b"\r", b""]);
    prop::collection::vec((line, end), 0..12)
        .prop_map(|lines| lines.into_iter().flat_map(|(l, e)| l.into_iter().chain(e.iter().copied())).collect())
}

fn cuts(max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=max_len, 0..8).prop_map(|mut c| {
        c.sort_unstable();
        c
    })
}

#[test]
fn valid_streams_translate_the_same_at_every_split_position() {
    for (ctx, stream) in valid_streams() {
        let input = stream.as_bytes();
        let whole = run_stream(&ctx, input, &[]).unwrap();
        assert!(whole.error.is_none() && whole.complete, "{ctx:?}: {whole:?}");
        assert!(whole.usage.is_some(), "{ctx:?}");
        for split in 0..=input.len() {
            assert_eq!(run_stream(&ctx, input, &[split]).unwrap(), whole, "{ctx:?} split at {split}");
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run_stream(&ctx, input, &bytes).unwrap(), whole, "{ctx:?} one byte at a time");
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn valid_streams_translate_the_same_whatever_the_split(
        which in any::<Index>(),
        cuts in cuts(2048),
    ) {
        let streams = valid_streams();
        let (ctx, stream) = which.get(&streams);
        let whole = run_stream(ctx, stream.as_bytes(), &[])?;
        prop_assert_eq!(run_stream(ctx, stream.as_bytes(), &cuts)?, whole);
    }

    /// Any bytes, split anywhere: no panic, and the same events and outcome as in one piece (the
    /// events before a mid-stream error included).
    #[test]
    fn arbitrary_streams_translate_the_same_whatever_the_split(
        ctx in response_context(),
        input in prop_oneof![sse_like(), prop::collection::vec(any::<u8>(), 0..512)],
        cuts in cuts(512),
    ) {
        let whole = run_stream(&ctx, &input, &[])?;
        prop_assert_eq!(run_stream(&ctx, &input, &cuts)?, whole);
    }

    /// The decoder's framing does not depend on where the network cut the bytes.
    #[test]
    fn sse_decoder_is_split_invariant(
        input in prop_oneof![sse_like(), prop::collection::vec(any::<u8>(), 0..512)],
        cuts in cuts(512),
    ) {
        let decode = |cuts: &[usize]| {
            let mut d = SseDecoder::new();
            let mut events = Vec::new();
            let mut start = 0;
            for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
                let cut = cut.clamp(start, input.len());
                events.extend(d.push(&input[start..cut]));
                start = cut;
            }
            let buffered = d.buffered();
            events.extend(d.finish());
            (events, buffered, d.buffered())
        };
        let (whole, buffered, after) = decode(&[]);
        prop_assert_eq!(after, 0);
        let raw: usize = whole.iter().map(|e| e.raw.len()).sum();
        prop_assert!(raw <= input.len() + 2 && buffered <= input.len());
        prop_assert_eq!(decode(&cuts), (whole, buffered, after));
    }
}

/// An event that never ends is refused once it passes `MAX_EVENT_BYTES`, whatever the chunk sizes:
/// the decoder never holds more than the limit plus the chunk that crossed it.
#[test]
fn an_endless_event_is_refused_past_the_size_limit() {
    for protocol in PROTOCOLS {
        // Never a blank line, not even across chunks: one ever-growing event.
        for (chunk_len, line) in
            [(64 * 1024, &b"data: x"[..]), (1500, b"data: {\"a\":\"b\"}\n: c\n"), (100_002, b"\n:")]
        {
            let ctx = stream_ctx(protocol, Endpoint::ChatCompletions, true);
            let mut t = StreamTranslator::new(&ctx);
            let mut out = Vec::new();
            let chunk: Vec<u8> = line.iter().copied().cycle().take(chunk_len).collect();
            let mut fed = 0;
            let err = loop {
                match t.push(&chunk, &mut out) {
                    Ok(()) => fed += chunk.len(),
                    Err(e) => break e,
                }
                assert!(fed <= MAX_EVENT_BYTES, "{protocol:?}: {fed} bytes buffered without an error");
            };
            assert_eq!(err.status, 502, "{err:?}");
            assert!(out.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties above
// ---------------------------------------------------------------------------------------------

/// Upstream counts at `u64::MAX` used to overflow `prompt + completion` (a panic in debug builds,
/// a wrapped total in release).
#[test]
fn huge_upstream_token_counts_do_not_overflow() {
    let ctx = stream_ctx(Protocol::OpenAi, Endpoint::ChatCompletions, true);
    let body = br#"{"choices":[],"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":2}}"#;
    let t = translate_body(&ctx, body).unwrap();
    assert_eq!(t.usage.map(|u| u.total_tokens), Some(u64::MAX));
}

/// A streamed tool call with `index: u64::MAX` used to overflow the next index (Workers AI native).
#[test]
fn huge_streamed_tool_call_index_does_not_overflow() {
    let ctx = stream_ctx(Protocol::CloudflareNative, Endpoint::ChatCompletions, true);
    let stream = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":18446744073709551615,\"function\":{\"name\":\"f\"}}]}}]}\n\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"g\"}}]}}]}\n\ndata: [DONE]\n\n";
    let run = run_stream(&ctx, stream.as_bytes(), &[]).unwrap();
    assert!(run.error.is_none() && run.complete);
}

/// An OpenAI-shaped error with a non-standard upstream status (600–999) used to reach the client
/// as that status.
#[test]
fn nonstandard_upstream_status_becomes_a_client_error_status() {
    let e = translate_error(Protocol::OpenAi, 799, br#"{"error":{"message":"m","type":"server_error"}}"#);
    assert_eq!(e.status, 502);
    assert_eq!(e.upstream_status, 799);
}

/// An OpenAI-shaped error with an empty `message` (or `type`) used to reach the client with an
/// empty message (or type).
#[test]
fn empty_upstream_error_fields_fall_back_to_defaults() {
    for body in [&br#"{"error":{"message":"","type":""}}"#[..], br#"[{"message":""}]"#, br#"{"error":""}"#] {
        let e = translate_error(Protocol::OpenAi, 500, body);
        assert!(!e.message.is_empty() && !e.error_type.is_empty(), "{e:?}");
    }
}
