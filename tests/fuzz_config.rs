//! Property-based fuzzing of the config loader and the request-body parser: arbitrary text, arbitrary
//! TOML, and mutations of the shipped `config.toml` load as `Ok` or as `Err` with every problem
//! named, and never panic. See `docs/fuzzing.md`.

use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use sluice::config::{load_str, Config};

/// The shipped config, read at compile time so the fuzzer always starts from the real file.
const SHIPPED: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"));

/// `n` cases per property, unless `PROPTEST_CASES` asks for a longer session.
fn cases(n: u32) -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig { cases: n, ..config }
    }
}

/// Every `${VAR}` is set, to a value that suits what the shipped file uses it for.
fn lookup(name: &str) -> Option<String> {
    Some(
        match name {
            n if n.ends_with("LISTEN") => "127.0.0.1:8080",
            n if n.ends_with("BASE_URL") => "http://127.0.0.1:9/v1",
            _ => "sk-fuzz-0123456789abcdef0123456789abcdef",
        }
        .to_string(),
    )
}

/// Loads `text`: `Ok`, or `Err` naming at least one problem, each with a message; an `Ok` config
/// holds only durations the request path can add to `Instant::now()`.
fn check_load(text: &str) -> Result<Option<Config>, TestCaseError> {
    match load_str(text, &lookup) {
        Ok(config) => {
            check_durations(&config)?;
            Ok(Some(config))
        }
        Err(problems) => {
            prop_assert!(!problems.is_empty(), "Err without problems for:\n{text}");
            for (path, message) in &problems.0 {
                prop_assert!(!message.is_empty(), "empty message at `{path}` for:\n{text}");
            }
            prop_assert!(!problems.to_string().is_empty());
            Ok(None)
        }
    }
}

fn check_durations(config: &Config) -> Result<(), TestCaseError> {
    let t = &config.timeouts;
    let mut durations = vec![
        t.connect,
        t.first_byte,
        t.idle,
        t.total,
        t.downstream_write,
        config.server.grace_period,
        config.server.graceful_shutdown_timeout,
        config.store.timeout,
    ];
    for route in config.models.values() {
        durations.extend([
            route.first_byte_deadline,
            route.cooldown_wait,
            route.retry.initial,
            route.retry.max_delay,
            route.retry.retry_after_cap,
            route.breaker.cool_down,
        ]);
        durations.extend(route.breaker.failure_ratio.map(|r| r.window));
    }
    for provider in config.providers.values() {
        durations.extend(provider.pacing.as_ref().map(|p| p.max_wait));
    }
    let now = Instant::now();
    for d in durations {
        prop_assert!(now.checked_add(d).is_some(), "{d:?} would overflow `Instant::now() + d` on the request path");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Table and field names of the config file, so random trees pass `deny_unknown_fields` often.
const KEYS: &[&str] = &[
    "server",
    "listen",
    "threads",
    "h2c",
    "body_limit_bytes",
    "grace_period",
    "graceful_shutdown_timeout",
    "tls",
    "cert_path",
    "key_path",
    "upgrade_sock",
    "timeouts",
    "connect",
    "first_byte",
    "idle",
    "total",
    "downstream_write",
    "metrics",
    "enabled",
    "bearer_token",
    "admin_listen",
    "log",
    "level",
    "access_log",
    "providers",
    "openai",
    "kind",
    "base_url",
    "api_key",
    "api_keys",
    "ca_file",
    "pool_max_idle_per_host",
    "max_concurrency",
    "requests_per_minute",
    "queue_length",
    "queue_timeout",
    "models",
    "m",
    "context_window",
    "max_output_tokens",
    "dimensions",
    "owned_by",
    "candidates",
    "provider",
    "model",
    "api",
    "retry",
    "max_retries",
    "initial_backoff",
    "max_backoff",
    "retry_after_cap",
    "breaker",
    "consecutive_failures",
    "failure_ratio",
    "min_samples",
    "window",
    "cool_down",
    "max_attempts",
    "first_byte_deadline",
    "allow_fallback",
    "cooldown_wait",
    "auth",
    "keys",
    "sha256",
    "key",
    "tenant",
    "tier",
    "name",
    "jwt",
    "algorithm",
    "secret",
    "tiers",
    "monthly_tokens",
    "tokens_per_minute",
    "passthrough",
    "path_prefix",
    "store",
    "backend",
    "redis_url",
    "quota",
    "bytes_per_token",
    "default_max_tokens",
    "ledger",
    "prices",
    "input",
    "output",
    "tenants",
    "overrides",
    "user",
    "admin",
];

/// String values the loader compares against or parses.
const WORDS: &[&str] = &[
    "",
    "openai",
    "cloudflare",
    "azure",
    "native",
    "chat",
    "embeddings",
    "memory",
    "redis",
    "redis://127.0.0.1:6379",
    "fail_open",
    "fail_closed",
    "HS256",
    "RS256",
    "none",
    "http://127.0.0.1:9/v1",
    "https://api.openai.com/v1",
    "ftp://x",
    "127.0.0.1:8080",
    "[::1]:0",
    "nowhere",
    "/v1/files",
    "/v1/../x",
    "30s",
    "250ms",
    "0s",
    "1h",
    "soon",
    "18446744073709551615s",
    "584942417355y",
    "500000000000y",
    "100000000000y",
    "99999999999999999999999ns",
    "${SLUICE_APP_KEY}",
    "${NOPE:-x}",
    "${",
    "${bad name}",
    "${}",
    "$",
    "0123456789abcdef0123456789abcdef",
    "openai",
    "m",
    "default",
    "free",
    "pro",
    "enterprise",
    "\u{0}",
    "a\nb",
];

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        select(vec![0i64, 1, -1, 2, 255, 1024, 4096, i64::from(u32::MAX), i64::from(u32::MAX) + 1, i64::MAX, i64::MIN]),
        any::<i64>(),
    ]
}

fn toml_leaf() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        int().prop_map(toml::Value::Integer),
        prop_oneof![select(vec![0.0f64, 0.5, 1.0, 3.0, 16.0, 16.5, -1.0]), any::<f64>()].prop_map(toml::Value::Float),
        select(WORDS).prop_map(|s| toml::Value::String(s.to_owned())),
        "(?s).{0,12}".prop_map(toml::Value::String),
    ]
}

fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![6 => select(KEYS).prop_map(str::to_owned), 1 => "(?s).{0,6}"]
}

fn toml_value() -> BoxedStrategy<toml::Value> {
    toml_leaf()
        .prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
                prop::collection::vec((toml_key(), inner), 0..6)
                    .prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

fn toml_table() -> impl Strategy<Value = toml::Table> {
    prop::collection::vec((toml_key(), toml_value()), 0..8).prop_map(|kv| kv.into_iter().collect())
}

/// How one node of the shipped config's TOML tree is changed.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(Index, toml::Value),
    Remove(Index),
    Insert(Index, String, toml::Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), toml_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => (any::<Index>(), toml_key(), toml_value()).prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

fn count(value: &toml::Value) -> usize {
    1 + match value {
        toml::Value::Array(items) => items.iter().map(count).sum(),
        toml::Value::Table(table) => table.values().map(count).sum(),
        _ => 0,
    }
}

fn node_mut<'a>(value: &'a mut toml::Value, n: &mut usize) -> Option<&'a mut toml::Value> {
    if *n == 0 {
        return Some(value);
    }
    *n -= 1;
    match value {
        toml::Value::Array(items) => items.iter_mut().find_map(|v| node_mut(v, n)),
        toml::Value::Table(table) => table.iter_mut().find_map(|(_, v)| node_mut(v, n)),
        _ => None,
    }
}

/// Removes the child at pre-order position `n` (below the root) from its parent.
fn remove(value: &mut toml::Value, n: &mut usize) -> bool {
    match value {
        toml::Value::Array(items) => {
            for i in 0..items.len() {
                if *n == 0 {
                    items.remove(i);
                    return true;
                }
                *n -= 1;
                if remove(&mut items[i], n) {
                    return true;
                }
            }
            false
        }
        toml::Value::Table(table) => {
            let keys: Vec<String> = table.keys().cloned().collect();
            for k in keys {
                if *n == 0 {
                    table.remove(&k);
                    return true;
                }
                *n -= 1;
                if table.get_mut(&k).is_some_and(|child| remove(child, n)) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn apply(root: &mut toml::Value, mutation: &Mutation) {
    let nodes = count(root);
    match mutation {
        // Keep the root a table: a config file is one.
        Mutation::Replace(i, v) if nodes > 1 => {
            let mut n = 1 + i.index(nodes - 1);
            if let Some(node) = node_mut(root, &mut n) {
                *node = v.clone();
            }
        }
        Mutation::Remove(i) if nodes > 1 => {
            remove(root, &mut i.index(nodes - 1));
        }
        Mutation::Insert(i, k, v) => {
            if let Some(toml::Value::Table(table)) = node_mut(root, &mut i.index(nodes)) {
                table.insert(k.clone(), v.clone());
            }
        }
        Mutation::Replace(..) | Mutation::Remove(_) => {}
    }
}

/// Line-level and character-level damage to the shipped file's text.
#[derive(Clone, Debug)]
enum TextDamage {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Truncate(Index),
    Insert(Index, String),
}

fn text_damage() -> impl Strategy<Value = TextDamage> {
    let junk = prop_oneof![
        select(vec!["[", "]", "\"", "=", "\n", "[[auth.keys]]\n", "[server]\n", "${", "}", "#", "'''", "\\u0000"])
            .prop_map(str::to_owned),
        "(?s).{0,8}",
    ];
    prop_oneof![
        any::<Index>().prop_map(TextDamage::DeleteLine),
        any::<Index>().prop_map(TextDamage::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextDamage::SwapLines(a, b)),
        any::<Index>().prop_map(TextDamage::Truncate),
        (any::<Index>(), junk).prop_map(|(i, s)| TextDamage::Insert(i, s)),
    ]
}

fn damage_text(text: &str, damage: &[TextDamage]) -> String {
    let mut text = text.to_owned();
    for d in damage {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        match d {
            TextDamage::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i.index(lines.len()));
            }
            TextDamage::DuplicateLine(i) if !lines.is_empty() => {
                let at = i.index(lines.len());
                lines.insert(at, lines[at].clone());
            }
            TextDamage::SwapLines(a, b) if !lines.is_empty() => {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
            }
            TextDamage::Truncate(i) => {
                text.truncate(*i.get(&boundaries));
                continue;
            }
            TextDamage::Insert(i, s) => {
                text.insert_str(*i.get(&boundaries), s);
                continue;
            }
            _ => continue,
        }
        text = lines.join("\n");
    }
    text
}

/// TOML-looking text: lines of headers and assignments from the config's vocabulary.
fn toml_like_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        select(KEYS).prop_map(|k| format!("[{k}]")),
        (select(KEYS), select(KEYS)).prop_map(|(a, b)| format!("[{a}.{b}]")),
        select(KEYS).prop_map(|k| format!("[[{k}]]")),
        (select(KEYS), toml_leaf()).prop_map(|(k, v)| format!("{k} = {v}")),
        (select(KEYS), prop::collection::vec(toml_leaf(), 0..3))
            .prop_map(|(k, v)| format!("{k} = {}", toml::Value::Array(v))),
        "(?s).{0,16}",
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

#[test]
fn shipped_config_loads_with_every_variable_set() {
    let config = check_load(SHIPPED).unwrap();
    assert!(config.is_some(), "{:?}", load_str(SHIPPED, &lookup).err());
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof!["(?s).{0,200}", toml_like_text()]) {
        check_load(&text)?;
    }

    #[test]
    fn arbitrary_toml_never_panics(table in toml_table()) {
        // Some trees have no TOML text (e.g. a table after a plain value in an array): skip those.
        if let Ok(text) = toml::to_string(&table) {
            check_load(&text)?;
        }
    }

    #[test]
    fn mutated_shipped_config_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut root: toml::Value = toml::from_str(SHIPPED).unwrap();
        for m in &mutations {
            apply(&mut root, m);
        }
        if let Ok(text) = toml::to_string(&root) {
            check_load(&text)?;
        }
    }

    #[test]
    fn damaged_shipped_config_text_never_panics(damage in prop::collection::vec(text_damage(), 1..4)) {
        check_load(&damage_text(SHIPPED, &damage))?;
    }

    #[test]
    fn parse_object_takes_objects_and_refuses_the_rest(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            "(?s).{0,64}".prop_map(String::into_bytes),
            toml_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        ],
    ) {
        let parsed = sluice::pipeline::forward::parse_object(&body);
        let expected: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| match v {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            });
        match (parsed, expected) {
            (Ok(map), Some(expected)) => prop_assert_eq!(map, expected),
            (Err(e), None) => {
                prop_assert_eq!(e.status(), 400);
                prop_assert!(!e.to_string().is_empty());
            }
            (parsed, expected) => prop_assert!(false, "parse_object {parsed:?} vs serde_json {expected:?}"),
        }
    }
}

/// Nesting far past any real body or config is refused, not a stack overflow.
#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let json = "[".repeat(100_000);
    assert!(sluice::pipeline::forward::parse_object(json.as_bytes()).is_err());
    let json = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert!(sluice::pipeline::forward::parse_object(json.as_bytes()).is_err());
    for text in [format!("a = {}", "[".repeat(100_000)), format!("a = {}", "{b = ".repeat(100_000))] {
        check_load(&text).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties above
// ---------------------------------------------------------------------------------------------

/// `retry.max_retries = 4294967295` without `max_attempts` used to overflow `1 + max_retries`.
#[test]
fn max_retries_at_u32_max_does_not_overflow() {
    let text = SHIPPED.replace("retry = { max_retries = 3,", "retry = { max_retries = 4294967295,");
    assert_ne!(text, SHIPPED);
    let config = check_load(&text).unwrap().unwrap();
    assert_eq!(config.models["gpt-4o"].max_attempts, u32::MAX);
}

/// Durations too long to add to an `Instant` used to load, then panic on every request.
#[test]
fn durations_past_what_an_instant_can_hold_are_refused() {
    for long in ["18446744073709551615s", "584942417355y", "100000000000y"] {
        let text = SHIPPED.replace("total = \"900s\"", &format!("total = \"{long}\""));
        assert_ne!(text, SHIPPED);
        let problems = load_str(&text, &lookup).err().unwrap_or_else(|| panic!("{long} was accepted"));
        assert!(problems.to_string().contains("timeouts.total"), "{problems}");
    }
}
