use super::*;

fn cf(code: i64, status: u16) -> UpstreamError {
    let body = format!(
        r#"{{"result":null,"success":false,"errors":[{{"code":{code},"message":"upstream says {code}"}}],"messages":[]}}"#
    );
    translate_error(Protocol::CloudflareNative, status, body.as_bytes())
}

/// (code, upstream status) → (client status, type, code, retryable, out_of_credit, credentials_rejected)
#[test]
fn every_workers_ai_code_row() {
    type Expect = (u16, &'static str, Option<&'static str>, bool, bool, bool);
    let rows: [(i64, u16, Expect); 14] = [
        (5007, 400, (502, "server_error", Some("upstream_model_not_found"), false, false, false)),
        (3042, 404, (502, "server_error", Some("upstream_model_not_found"), false, false, false)),
        (5004, 400, (400, "invalid_request_error", None, false, false, false)),
        (3003, 400, (400, "invalid_request_error", None, false, false, false)),
        (3006, 413, (413, "invalid_request_error", Some("request_too_large"), false, false, false)),
        (5016, 403, (502, "server_error", Some("upstream_forbidden"), false, false, false)),
        (3023, 403, (502, "server_error", Some("upstream_forbidden"), false, false, false)),
        (3007, 408, (504, "server_error", Some("upstream_timeout"), true, false, false)),
        (3008, 408, (408, "server_error", Some("upstream_aborted"), true, false, false)),
        (3036, 429, (429, "insufficient_quota", Some("insufficient_quota"), false, true, false)),
        (3040, 429, (429, "rate_limit_error", Some("rate_limit_exceeded"), true, false, false)),
        (10000, 401, (502, "server_error", Some("upstream_auth_failed"), false, false, true)),
        (10000, 403, (502, "server_error", Some("upstream_auth_failed"), false, false, true)),
        // Unknown code: status class decides.
        (9999, 500, (502, "server_error", Some("upstream_error"), true, false, false)),
    ];
    for (code, status, expect) in rows {
        let e = cf(code, status);
        let got =
            (e.status, e.error_type.as_str(), e.code.as_deref(), e.retryable, e.out_of_credit, e.credentials_rejected);
        assert_eq!(got, expect, "code {code}");
        assert_eq!(e.upstream_status, status);
        if !e.credentials_rejected {
            assert!(e.message.contains(&format!("upstream says {code}")), "{}", e.message);
        }
    }
}

#[test]
fn workers_ai_messages_name_the_cause() {
    assert!(cf(5007, 400).message.contains("gateway configuration problem"));
    assert!(cf(3036, 429).message.contains("00:00 UTC"));
    assert_eq!(cf(5004, 400).message, "upstream says 5004 (Workers AI error 5004)");
}

#[test]
fn openai_shape_keeps_fields() {
    let body = br#"{"error":{"message":"The model `gpt-5-nano-x` does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#;
    let e = translate_error(Protocol::OpenAi, 404, body);
    assert_eq!(e.status, 404);
    assert_eq!(e.error_type, "invalid_request_error");
    assert_eq!(e.code.as_deref(), Some("model_not_found"));
    assert_eq!(e.param.as_deref(), Some("model"));
    assert!(e.message.starts_with("The model `gpt-5-nano-x`"));
    assert!(!e.retryable && !e.out_of_credit && !e.credentials_rejected);
    assert_eq!(&e.to_openai_json()[..], &body[..]);
}

#[test]
fn openai_rate_limit_and_quota() {
    let e = translate_error(
        Protocol::OpenAi,
        429,
        br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!((e.status, e.retryable, e.out_of_credit), (429, true, false));
    let e = translate_error(Protocol::OpenAi, 429, br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#);
    assert_eq!((e.status, e.retryable, e.out_of_credit), (429, false, true));
}

#[test]
fn openai_server_errors_retryable() {
    for status in [500u16, 502, 503, 504] {
        let e = translate_error(
            Protocol::OpenAi,
            status,
            br#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#,
        );
        assert_eq!((e.status, e.retryable), (status, true));
        assert_eq!(e.code, None);
    }
    let e = translate_error(Protocol::OpenAi, 400, br#"{"error":{"message":"ctx","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#);
    assert_eq!((e.status, e.retryable), (400, false));
    // Numeric codes become strings; missing type filled from status.
    let e = translate_error(Protocol::CloudflareOpenAi, 400, br#"{"error":{"message":"bad","code":5004}}"#);
    assert_eq!((e.error_type.as_str(), e.code.as_deref()), ("invalid_request_error", Some("5004")));
}

#[test]
fn auth_failures_never_blame_the_client_or_leak_the_key() {
    let body = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcd****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    for status in [401u16, 403] {
        let e = translate_error(Protocol::OpenAi, status, body);
        assert_eq!(e.status, 502);
        assert_eq!(e.upstream_status, status);
        assert_eq!(e.code.as_deref(), Some("upstream_auth_failed"));
        assert!(e.credentials_rejected && !e.retryable);
        assert!(!e.message.contains("sk-"), "{}", e.message);
        assert!(e.message.contains("not a problem with your API key"));
    }
    let e = translate_error(Protocol::CloudflareNative, 401, b"");
    assert!(e.credentials_rejected);
}

#[test]
fn unknown_bodies_by_status_class() {
    let cases: [(u16, u16, bool); 9] = [
        (500, 502, true),
        (502, 502, true),
        (503, 502, true),
        (504, 502, true),
        (501, 502, false),
        (429, 429, true),
        (408, 504, true),
        (400, 400, false),
        (404, 502, false),
    ];
    for (upstream, client, retryable) in cases {
        let e = translate_error(Protocol::OpenAi, upstream, b"<html>Bad Gateway</html>");
        assert_eq!((e.status, e.retryable), (client, retryable), "upstream {upstream}");
        assert!(!e.message.contains("html"));
    }
    let e = translate_error(Protocol::CloudflareOpenAi, 413, b"");
    assert_eq!((e.status, e.code.as_deref()), (413, Some("request_too_large")));
    let e = translate_error(Protocol::CloudflareNative, 500, br#"{"error":"worker crashed"}"#);
    assert_eq!(e.status, 502);
    assert!(e.message.contains("worker crashed"));
    let e = translate_error(
        Protocol::CloudflareNative,
        500,
        br#"{"success":false,"errors":[{"code":7777,"message":"odd"}]}"#,
    );
    assert!(e.message.contains("odd (error 7777)"), "{}", e.message);
}

#[test]
fn error_inside_2xx_gets_a_client_status() {
    let e = translate_error(
        Protocol::OpenAi,
        200,
        br#"{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"#,
    );
    assert_eq!(e.status, 502);
    let e = translate_error(Protocol::OpenAi, 200, br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#);
    assert_eq!((e.status, e.retryable), (429, true));
}

#[test]
fn json_and_sse_forms() {
    let e = cf(3040, 429);
    let json: Value = serde_json::from_slice(&e.to_openai_json()).unwrap_or_default();
    assert_eq!(json["error"]["type"], "rate_limit_error");
    assert_eq!(json["error"]["code"], "rate_limit_exceeded");
    assert!(json["error"]["param"].is_null());
    let event = stream_error_event(&e);
    assert!(event.starts_with(b"data: {\"error\":{\"message\":"));
    assert!(event.ends_with(b"}}\n\n"));
}
