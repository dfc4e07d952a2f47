use std::process::Command;

use crate::harness::Gateway;

fn run(gw: &Gateway, program: &str, script: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(program)
        .arg(format!("{root}/{script}"))
        .envs(gw.sdk_env())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (the README's test command installs it)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}\nsluice log:\n{}", gw.log());
}

fn python() -> String {
    // scripts/test.sh installs the SDK in a venv and points SLUICE_TEST_PYTHON at it.
    std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[tokio::test]
async fn official_python_sdk_meets_the_quota() {
    let gw =
        Gateway::start_with("\n[tiers.default]\n\n[tiers.pro]\nmonthly_tokens = 300\ntokens_per_minute = 2000\n").await;
    tokio::task::spawn_blocking(move || run(&gw, &python(), "tests/sdk/python/test_quota_refusal.py")).await.unwrap();
}

#[tokio::test]
async fn official_python_sdk() {
    let gw = Gateway::start().await;
    let gw = tokio::task::spawn_blocking(move || {
        run(&gw, &python(), "tests/sdk/python/test_openai_sdk.py");
        gw
    })
    .await
    .unwrap();
    drop(gw);
}

#[tokio::test]
async fn official_node_sdk() {
    let gw = Gateway::start().await;
    assert!(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/node/node_modules/openai")).exists(),
        "run `npm ci --prefix tests/sdk/node` first (the README's test command does)"
    );
    let gw = tokio::task::spawn_blocking(move || {
        run(&gw, "node", "tests/sdk/node/test.mjs");
        gw
    })
    .await
    .unwrap();
    drop(gw);
}
