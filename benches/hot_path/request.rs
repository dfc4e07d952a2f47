//! Request intake: parse + validate + prepare, gateway-key authentication, the error body.

use std::collections::BTreeMap;

use criterion::{black_box, Criterion, Throughput};
use serde_json::{Map, Value};
use sluice::config::file::{AuthFile, KeyFile};
use sluice::config::Problems;
use sluice::error::GatewayError;
use sluice::identity;
use sluice_providers::{self as providers, Endpoint, Protocol};

use super::chat_body;

pub fn request_path(c: &mut Criterion) {
    let body = chat_body(true);
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("baseline: json parse + serialise", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(serde_json::to_vec(&v).unwrap())
        })
    });
    for (name, protocol) in [("openai", Protocol::OpenAi), ("cloudflare native", Protocol::CloudflareNative)] {
        g.bench_function(format!("parse + validate + prepare ({name})"), |b| {
            b.iter(|| {
                let map: Map<String, Value> = serde_json::from_slice(black_box(&body)).unwrap();
                let summary = providers::validate(Endpoint::ChatCompletions, &map).unwrap();
                black_box(
                    providers::prepare(
                        Endpoint::ChatCompletions,
                        protocol,
                        &map,
                        &summary,
                        "upstream-model",
                        "chatcmpl-x".into(),
                        1,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

pub fn auth(c: &mut Criterion) {
    let keys = (0..1000)
        .map(|i| KeyFile {
            sha256: Some(hex::encode(identity::hash_key(&format!("sk-key-{i:06}-padding")))),
            key: None,
            tenant: format!("t{i}"),
            tier: None,
            name: None,
        })
        .collect();
    let id = identity::build(&AuthFile { keys, jwt: None }, &BTreeMap::new(), &mut Problems::default()).unwrap();
    let header = b"Bearer sk-key-000500-padding".to_vec();
    c.bench_function("auth: gateway key among 1000 (sha256 + lookup + ct compare)", |b| {
        b.iter(|| black_box(id.authenticate(Some(black_box(&header))).unwrap()))
    });
}

pub fn errors(c: &mut Criterion) {
    let err = GatewayError::ModelNotFound("gpt-9".into());
    c.bench_function("error: OpenAI error body", |b| b.iter(|| black_box(black_box(&err).body())));
}
