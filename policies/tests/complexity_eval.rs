//! Evaluates the complexity classifier on the hand-labelled corpus
//! `policies/tests/fixtures/complexity.jsonl` and fails if it regresses.
//!
//! The corpus has two splits fixed before any tuning: `tune` (weights and cue lists were adjusted
//! against it) and `heldout` (never looked at while tuning: the honest estimate). For each split
//! the test prints the share of simple prompts that would be downgraded (target ≥ 70 %) and the
//! share of complex prompts that would be downgraded (target ≤ 3 %), and lists misclassified ids.
//! Run with `-- --nocapture` to see the report.

// Test code: a panic is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Map, Value};
use sluice_policies::downgrade::{assess, Assessment, ChatView, ClassifierWeights, DEFAULT_THRESHOLD};

const CORPUS: &str = include_str!("fixtures/complexity.jsonl");

struct Item {
    id: String,
    split: String,
    simple: bool,
    body: Map<String, Value>,
}

fn corpus() -> Vec<Item> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line}: {e}"));
            let messages = match (v.get("prompt"), v.get("messages")) {
                (Some(p), None) => json!([{"role": "user", "content": p}]),
                (None, Some(m)) => m.clone(),
                _ => panic!("{line}: exactly one of prompt/messages"),
            };
            let label = v["label"].as_str().unwrap();
            assert!(label == "simple" || label == "complex", "{line}: bad label");
            let split = v["split"].as_str().unwrap().to_owned();
            assert!(split == "tune" || split == "heldout" || split == "sharegpt", "{line}: bad split");
            let mut body = Map::new();
            body.insert("model".into(), json!("gpt-4o"));
            body.insert("messages".into(), messages);
            Item { id: v["id"].as_str().unwrap().to_owned(), split, simple: label == "simple", body }
        })
        .collect()
}

struct Report {
    simple: usize,
    simple_down: usize,
    complex: usize,
    complex_down: usize,
    missed: Vec<String>,
    wrong: Vec<String>,
}

impl Report {
    fn simple_share(&self) -> f64 {
        self.simple_down as f64 / self.simple as f64
    }
    fn complex_share(&self) -> f64 {
        self.complex_down as f64 / self.complex as f64
    }
}

fn explain(a: &Assessment) -> String {
    let r: Vec<String> = a.reasons.iter().map(|s| format!("{:?}{:+.2}", s.kind, s.contribution)).collect();
    format!("{:.2} [{}]", a.score, r.join(" "))
}

fn evaluate(items: &[Item], split: &str) -> Report {
    let weights = ClassifierWeights::default();
    let mut r = Report { simple: 0, simple_down: 0, complex: 0, complex_down: 0, missed: vec![], wrong: vec![] };
    for item in items.iter().filter(|i| i.split == split) {
        let a = assess(&ChatView::from_request(&item.body), &weights, DEFAULT_THRESHOLD);
        let downgraded = a.simple();
        if item.simple {
            r.simple += 1;
            if downgraded {
                r.simple_down += 1;
            } else {
                r.missed.push(format!("{} {}", item.id, explain(&a)));
            }
        } else {
            r.complex += 1;
            if downgraded {
                r.complex_down += 1;
                r.wrong.push(format!("{} {}", item.id, explain(&a)));
            }
        }
    }
    println!(
        "[{split}] simple downgraded: {}/{} = {:.1} % (target >= 70 %); complex downgraded: {}/{} = {:.1} % (target <= 3 %)",
        r.simple_down, r.simple, 100.0 * r.simple_share(), r.complex_down, r.complex, 100.0 * r.complex_share()
    );
    println!("[{split}] complex prompts downgraded (harmful): {:#?}", r.wrong);
    println!("[{split}] simple prompts kept on the big model: {:#?}", r.missed);
    r
}

#[test]
fn corpus_is_well_formed() {
    let items = corpus();
    assert!(items.len() >= 300, "{} items", items.len());
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), items.len(), "duplicate ids");
    let heldout = items.iter().filter(|i| i.split == "heldout").count();
    let share = heldout as f64 / items.iter().filter(|i| i.split != "sharegpt").count() as f64;
    assert!((0.25..=0.40).contains(&share), "heldout share {share}");
    let simple = items.iter().filter(|i| i.simple).count() as f64 / items.len() as f64;
    assert!((0.4..=0.6).contains(&simple), "simple share {simple}");
}

#[test]
fn tune_split_meets_targets() {
    let r = evaluate(&corpus(), "tune");
    assert!(r.simple_share() >= 0.70, "tune: simple downgraded {:.3} < 0.70", r.simple_share());
    assert!(r.complex_share() <= 0.03, "tune: complex downgraded {:.3} > 0.03", r.complex_share());
}

/// Real first messages of ShareGPT V3 conversations (a seeded sample, labelled by hand after the
/// weights were tuned; the weights were never tuned on them). At the old threshold of 1.0 it
/// exposed 8 of 16 complex prompts downgraded (no cue the lexicon knows), which moved the default
/// threshold to 0 — so for the threshold, and only for it, this split is no longer unseen.
#[test]
fn sharegpt_split_is_reported_and_stays_safe() {
    let r = evaluate(&corpus(), "sharegpt");
    assert!(r.simple + r.complex >= 30, "too few ShareGPT items");
    assert!(r.simple_share() >= 0.55, "sharegpt: simple downgraded {:.3} < 0.55", r.simple_share());
    assert!(r.complex_share() <= 0.10, "sharegpt: complex downgraded {:.3} > 0.10", r.complex_share());
}

#[test]
fn heldout_split_meets_ci_floor() {
    let r = evaluate(&corpus(), "heldout");
    assert!(r.simple_share() >= 0.65, "heldout: simple downgraded {:.3} < 0.65", r.simple_share());
    assert!(r.complex_share() <= 0.05, "heldout: complex downgraded {:.3} > 0.05", r.complex_share());
}
