use base64::Engine;
use serde_json::json;

use crate::harness::Gateway;

fn decode_base64(s: &str) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[tokio::test]
async fn cloudflare_embeddings_in_openai_shape_float_and_base64() {
    let gw = Gateway::start().await;
    let (status, headers, v) = gw
        .post("/v1/embeddings", &json!({"model": "text-embedding-3-small", "input": ["alpha", "beta", "gamma"]}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "@cf/baai/bge-base-en-v1.5");
    assert_eq!(headers["x-sluice-model"], "@cf/baai/bge-base-en-v1.5");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["index"], i);
        assert_eq!(d["embedding"].as_array().unwrap().len(), 768);
    }
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(gw.mock.calls()[0].body, json!({"text": ["alpha", "beta", "gamma"]}));

    let (status, _, b) = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    let floats = decode_base64(b["data"][0]["embedding"].as_str().unwrap());
    assert_eq!(floats.len(), 768);
    let first: Vec<f32> =
        v["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    assert_eq!(floats, first, "base64 decodes to the same vector as the float form");
}

#[tokio::test]
async fn openai_embeddings_support_token_arrays_and_dimensions() {
    let gw = Gateway::start().await;
    let (status, _, v) = gw
        .post(
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-large", "input": [[1, 2, 3], [4, 5]], "dimensions": 256}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(gw.mock.calls()[0].body["dimensions"], 256);
}

#[tokio::test]
async fn cloudflare_refuses_what_it_cannot_honour() {
    let gw = Gateway::start().await;
    let (status, _, v) =
        gw.post("/v1/embeddings", &json!({"model": "text-embedding-3-small", "input": "x", "dimensions": 1536})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "dimensions");
    let (status, _, v) =
        gw.post("/v1/embeddings", &json!({"model": "text-embedding-3-small", "input": [1, 2, 3]})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "input");
    assert_eq!(gw.mock.call_count(), 0);
}

#[tokio::test]
async fn cloudflare_openai_compatible_embeddings_encode_base64_locally() {
    let gw = Gateway::start().await;
    let (status, _, v) = gw
        .post("/v1/embeddings", &json!({"model": "bge-compat", "input": ["a", "b"], "encoding_format": "base64"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(decode_base64(v["data"][1]["embedding"].as_str().unwrap()).len(), 768);
    let call = &gw.mock.calls()[0];
    assert_eq!(call.path, "/client/v4/accounts/test-account/ai/v1/embeddings");
    assert_ne!(call.body["encoding_format"], "base64");
}

#[tokio::test]
async fn chat_models_do_not_serve_embeddings() {
    let gw = Gateway::start().await;
    let (status, _, v) = gw.post("/v1/embeddings", &json!({"model": "gpt-4o", "input": "x"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "model");
}
