use serde_json::json;

use crate::harness::{chat, client, Gateway, KEY, OTHER_KEY};

#[tokio::test]
async fn missing_or_unknown_keys_get_401_in_openai_shape() {
    let gw = Gateway::start().await;
    let body = serde_json::to_vec(&chat("gpt-4o", "hi")).unwrap();
    for key in [None, Some("sk-wrong"), Some("")] {
        let (status, _, v) = gw.post_raw("/v1/chat/completions", body.clone(), key).await;
        assert_eq!(status, 401, "{key:?}: {v}");
        assert_eq!(v["error"]["code"], "invalid_api_key");
    }
    let resp = client().get(gw.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(gw.mock.call_count(), 0);
}

#[tokio::test]
async fn keys_map_to_tenants_and_users_come_from_body_or_header() {
    let gw = Gateway::start().await;
    let body = serde_json::to_vec(
        &json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "user": "user-42"}),
    )
    .unwrap();
    let (status, _, _) = gw.post_raw("/v1/chat/completions", body, Some(KEY)).await;
    assert_eq!(status, 200);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(OTHER_KEY)
        .header("x-sluice-user", "header-user")
        .json(&chat("gpt-4o", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The access log names tenant and user, and never the keys.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = gw.log();
    assert!(log.contains("\"tenant\":\"acme\"") && log.contains("\"user\":\"user-42\""), "{log}");
    assert!(log.contains("\"tenant\":\"globex\"") && log.contains("\"user\":\"header-user\""), "{log}");
    for secret in [KEY, OTHER_KEY, crate::harness::OPENAI_UPSTREAM_KEY, crate::harness::CF_UPSTREAM_KEY] {
        assert!(!log.contains(secret), "secret in log");
    }
    // The client's key is never forwarded upstream.
    for call in gw.mock.calls() {
        let auth = call.authorization.unwrap_or_default();
        assert!(!auth.contains(KEY) && !auth.contains(OTHER_KEY));
    }
}

#[tokio::test]
async fn jwt_mode_accepts_signed_tokens_and_refuses_forgeries() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let secret = "a-very-long-shared-secret-for-hs256-tests";
    let gw = Gateway::start_with(&format!(
        "\n[auth.jwt]\nalgorithm = \"HS256\"\nsecret = \"{secret}\"\ndefault_tenant = \"jwt-app\"\n"
    ))
    .await;
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let good = encode(
        &Header::default(),
        &json!({"sub": "alice", "plan": "pro", "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let forged = encode(
        &Header::default(),
        &json!({"sub": "alice", "exp": exp}),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    let body = serde_json::to_vec(&chat("gpt-4o", "hi")).unwrap();
    let (status, _, v) = gw.post_raw("/v1/chat/completions", body.clone(), Some(&good)).await;
    assert_eq!(status, 200, "{v}");
    let (status, _, _) = gw.post_raw("/v1/chat/completions", body.clone(), Some(&forged)).await;
    assert_eq!(status, 401);
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
    let (status, _, _) = gw.post_raw("/v1/chat/completions", body, Some(none)).await;
    assert_eq!(status, 401);
}
