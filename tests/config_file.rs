use std::process::Command;

fn env(name: &str) -> Option<String> {
    match name {
        "SLUICE_APP_KEY" => Some("sk-shipped-config-test-key".to_string()),
        _ => None,
    }
}

#[test]
fn shipped_config_loads_and_documents_every_model() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    let config =
        sluice::config::load_str(&text, &env).unwrap_or_else(|p| panic!("shipped config.toml is invalid:\n{p}"));
    for model in ["gpt-4o", "gpt-4o-mini", "llama-3.1-8b", "text-embedding-3-small"] {
        assert!(config.models.contains_key(model), "{model}");
    }
    assert_eq!(config.server.body_limit, 1024 * 1024);
    assert_eq!(config.server.read_buffer, 8 * 1024);
    // No literal secrets: every credential is an ${ENV} reference.
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for key in ["api_key", "secret", "bearer_token", "key ="] {
            if line.trim_start().starts_with(key) {
                assert!(line.contains("${"), "literal secret in config.toml: {line}");
            }
        }
    }
}

#[test]
fn check_prints_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = [\"nowhere\"]\nread_buffer_bytes = 100\n[providers.p]\nkind = \"azure\"\nbase_url = \"x\"\n[models.m]\ncandidates = [{ provider = \"q\", model = \"m\" }]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "server.listen[0]",
        "server.read_buffer_bytes",
        "providers.p.kind",
        "providers.p.base_url",
        "models.\"m\".candidates[0].provider",
    ] {
        assert!(err.contains(needle), "missing {needle}:\n{err}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"${NOPE:-}\"\n[models.m]\ncandidates = [{ provider = \"p\", model = \"m\" }]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).arg("check").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn shipped_embedding_names_are_bge_with_an_openai_fallback_switched_off() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
    let config = sluice::config::load_str(&text, &env).unwrap();
    for name in ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"] {
        let route = &config.models[name];
        assert_eq!(route.dimensions, Some(768), "{name}");
        assert!(!route.allow_fallback, "{name}: the fallback's vectors live in another space");
        assert_eq!(route.candidates[0].model, "@cf/baai/bge-base-en-v1.5", "{name}");
        assert_eq!(route.max_batch_inputs, 100, "{name}: Workers AI's limit");
        let fallback = &route.candidates[1];
        assert!(fallback.model.starts_with("text-embedding-3-"), "{name}: ada-002 cannot make 768");
        assert_eq!(fallback.dimensions, Some(768), "{name}");
        assert!(config.prices.contains_key(&fallback.model), "{name}: the fallback has a price");
    }
}
