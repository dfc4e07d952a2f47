//! Trimming as a whole: the 50-message workload of the "done when", a growing
//! conversation replayed turn by turn, and properties over arbitrary conversations.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const FIXTURE: &str = include_str!("../../tests/fixtures/trim_conversation.json");
const SUMMARISER: Summariser<'static> =
    Summariser { model: "gpt-4o-mini", prompt: DEFAULT_SUMMARY_PROMPT, max_tokens: DEFAULT_SUMMARY_MAX_TOKENS };

fn fixture() -> (Vec<Value>, String) {
    let f: Value = serde_json::from_str(FIXTURE).unwrap();
    (f["messages"].as_array().unwrap().clone(), f["fact"].as_str().unwrap().to_owned())
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn count(messages: &[Value]) -> u64 {
    messages.iter().map(|m| ApproxCounter.message_tokens(m)).sum()
}

fn role(m: &Value) -> &str {
    m["role"].as_str().unwrap_or("")
}

fn is_system(m: &Value) -> bool {
    matches!(role(m), "system" | "developer")
}

/// Call→result links by explicit pairing only (tool_call_id, or a legacy function result to the
/// latest function_call), computed independently of `pairs.rs`.
fn links(messages: &[Value]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (j, m) in messages.iter().enumerate() {
        let call = match role(m) {
            "tool" => m["tool_call_id"].as_str().and_then(|id| {
                (0..j).rev().find(|&a| {
                    messages[a]["tool_calls"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["id"].as_str() == Some(id)))
                })
            }),
            "function" => (0..j).rev().find(|&a| messages[a]["function_call"].is_object()),
            _ => None,
        };
        if let Some(a) = call {
            out.push((a, j));
        }
    }
    out
}

/// Every guarantee of the module, for one request and its plan, with and without a summary.
fn check(input: &[Value], plan: &TrimPlan) -> Result<(), TestCaseError> {
    let TrimPlan::Trim(trim) = plan else { return Ok(()) };
    let t = trim.tail_start();
    let last_user = input.iter().rposition(|m| role(m) == "user");
    prop_assert!(last_user.is_some_and(|l| t <= l), "tail must hold the latest user message");
    prop_assert_eq!(role(&input[t]), "user", "the tail starts a turn");
    prop_assert!(trim.span().start <= t && input[..trim.span().start].iter().all(is_system));
    let kept: Vec<usize> = (0..input.len()).filter(|&i| i >= t || is_system(&input[i])).collect();
    let kept_set: HashSet<usize> = kept.iter().copied().collect();
    for (a, b) in links(input) {
        prop_assert_eq!(kept_set.contains(&a), kept_set.contains(&b), "call {} split from result {}", a, b);
    }
    let dropped: Vec<&Value> = trim.dropped(input).collect();
    prop_assert_eq!(dropped.len(), trim.dropped_count());
    prop_assert_eq!(dropped.len() + kept.len(), input.len());

    let truncated = apply(input.to_vec(), trim, None).unwrap();
    let expected: Vec<Value> = kept.iter().map(|&i| input[i].clone()).collect();
    prop_assert_eq!(&truncated, &expected);
    prop_assert_eq!(count(&truncated), trim.tokens_after_truncation);
    prop_assert_eq!(count(input), trim.tokens_before);

    let summarised = apply(input.to_vec(), trim, Some("they talked")).unwrap();
    let systems_before = kept.iter().filter(|&&i| i < t).count();
    prop_assert_eq!(&summarised[..systems_before], &expected[..systems_before]);
    prop_assert_eq!(&summarised[systems_before]["content"], &json!(format!("{SUMMARY_PREFIX}they talked")));
    prop_assert_eq!(&summarised[systems_before + 1..], &input[t..]);
    prop_assert!(trim.tokens_after_summary < trim.tokens_before);
    Ok(())
}

#[test]
fn fifty_messages_fall_by_at_least_80_percent_and_keep_what_matters() {
    let (messages, fact) = fixture();
    assert_eq!(messages.len(), 51, "a system prompt and 50 messages");
    let policy = TrimPolicy::with_budget(2_000);
    let plan = plan(&messages, &policy, &ApproxCounter);
    let TrimPlan::Trim(trim) = &plan else { panic!("expected a trim, got {plan:?}") };
    check(&messages, &plan).unwrap();

    let before = count(&messages);
    let sent = apply(messages.clone(), trim, Some(&"x".repeat(4 * DEFAULT_SUMMARY_MAX_TOKENS as usize))).unwrap();
    let after = count(&sent);
    let fall = 1.0 - after as f64 / before as f64;
    println!(
        "50 messages: {before} → {after} tokens ({:.1} % less); plan: {} dropped, tail from {}, after ≤ {}",
        fall * 100.0,
        trim.dropped_count(),
        trim.tail_start(),
        trim.tokens_after_summary
    );
    assert!(fall >= 0.80, "only {:.1} % less", fall * 100.0);
    assert!(after <= trim.tokens_after_summary);

    assert_eq!(sent[0], messages[0], "system prompt verbatim");
    assert_eq!(sent.last(), messages.last(), "latest user message intact");
    // The fact is gone from the kept messages, so it must reach the summariser.
    assert!(!serde_json::to_string(&sent[2..]).unwrap().contains(&fact));
    let request = summary_request(trim.dropped(&messages), &SUMMARISER);
    assert!(request["messages"][1]["content"].as_str().unwrap().contains(&fact));
}

#[test]
fn every_dropped_message_reaches_the_summariser() {
    let (messages, _) = fixture();
    let TrimPlan::Trim(trim) = plan(&messages, &TrimPolicy::with_budget(2_000), &ApproxCounter) else { panic!() };
    let request = summary_request(trim.dropped(&messages), &SUMMARISER);
    let transcript = request["messages"][1]["content"].as_str().unwrap();
    for m in trim.dropped(&messages) {
        if let Some(text) = m["content"].as_str() {
            assert!(transcript.contains(text), "missing: {text:.60}");
        }
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            assert!(transcript.contains(call["function"]["arguments"].as_str().unwrap()));
        }
    }
}

/// Replays the fixture as a growing conversation: one request per user message, each carrying
/// the whole history, summaries stored by key (wait mode). Returns (tokens forwarded plainly,
/// tokens sent, summariser calls, trimmed requests).
fn replay(policy: &TrimPolicy) -> (u64, u64, usize, usize) {
    let (messages, fact) = fixture();
    let mut store: HashMap<PrefixKey, bool> = HashMap::new(); // key → its request carried the fact
    let mut key_of_span: HashMap<usize, PrefixKey> = HashMap::new();
    let (mut plain, mut sent, mut trimmed) = (0, 0, 0);
    for end in (0..messages.len()).filter(|&i| role(&messages[i]) == "user") {
        let request = &messages[..=end];
        let plan = plan(request, policy, &ApproxCounter);
        check(request, &plan).unwrap();
        plain += count(request);
        let TrimPlan::Trim(trim) = &plan else {
            sent += count(request);
            continue;
        };
        trimmed += 1;
        let key = prefix_key("acme", &SUMMARISER, trim.dropped(request));
        // One prefix, one key; another prefix, another key.
        assert_eq!(*key_of_span.entry(trim.tail_start()).or_insert(key), key);
        let carried = *store.entry(key).or_insert_with(|| {
            let body = summary_request(trim.dropped(request), &SUMMARISER).to_string();
            body.contains(&fact)
        });
        let out = apply(request.to_vec(), trim, Some("summary")).unwrap();
        assert!(carried || serde_json::to_string(&out).unwrap().contains(&fact), "fact lost at message {end}");
        sent += trim.tokens_after_summary;
    }
    assert_eq!(store.len(), key_of_span.len(), "each prefix summarised exactly once");
    (plain, sent, store.len(), trimmed)
}

#[test]
fn growing_conversation_summarises_each_prefix_once_and_never_loses_the_fact() {
    let (plain, sent, calls, trimmed) = replay(&TrimPolicy::with_budget(2_000));
    println!(
        "budget 2000: {plain} → {sent} tokens over the conversation, {calls} summaries for {trimmed} trimmed requests"
    );
    assert!(trimmed > 0 && calls <= trimmed);
}

#[test]
fn a_roomier_budget_reuses_summaries_across_turns() {
    let policy = TrimPolicy::with_budget(4_000);
    let (plain, sent, calls, trimmed) = replay(&policy);
    println!(
        "budget 4000: {plain} → {sent} tokens over the conversation, {calls} summaries for {trimmed} trimmed requests"
    );
    assert!(calls * 2 <= trimmed, "{calls} summaries for {trimmed} trimmed requests");
    let exact = TrimPolicy { cut_every_turns: nz(1), ..policy };
    let (_, _, calls_exact, trimmed_exact) = replay(&exact);
    assert_eq!(calls_exact, trimmed_exact, "without a grid every trimmed turn needs a new summary");
}

#[test]
fn the_key_of_a_prefix_is_stable_one_turn_later() {
    let (messages, _) = fixture();
    let policy = TrimPolicy::with_budget(4_000);
    let users: Vec<usize> = (0..messages.len()).filter(|&i| role(&messages[i]) == "user").collect();
    let mut same = 0;
    for pair in users.windows(2) {
        let (a, b) = (&messages[..=pair[0]], &messages[..=pair[1]]);
        if let (TrimPlan::Trim(ta), TrimPlan::Trim(tb)) =
            (plan(a, &policy, &ApproxCounter), plan(b, &policy, &ApproxCounter))
        {
            let (ka, kb) =
                (prefix_key("acme", &SUMMARISER, ta.dropped(a)), prefix_key("acme", &SUMMARISER, tb.dropped(b)));
            assert_eq!(ka == kb, ta.span() == tb.span());
            same += usize::from(ka == kb);
        }
    }
    assert!(same > 0, "no two consecutive turns shared a summary");
}

#[test]
fn the_key_changes_with_a_prefix_message_or_the_tenant() {
    let (messages, _) = fixture();
    let policy = TrimPolicy::with_budget(2_000);
    let TrimPlan::Trim(trim) = plan(&messages, &policy, &ApproxCounter) else { panic!() };
    let key = |tenant: &str, m: &[Value]| prefix_key(tenant, &SUMMARISER, trim.dropped(m));
    let base = key("acme", &messages);
    assert_eq!(base, key("acme", &messages));
    assert_ne!(base, key("globex", &messages));
    let mut edited = messages.clone();
    edited[1]["content"] = json!(messages[1]["content"].as_str().unwrap().replace("KX-5583-0917", "KX-5583-0918"));
    assert_ne!(base, key("acme", &edited));
    // Editing a kept message (the tail) leaves the prefix's key alone.
    let mut tail_edited = messages.clone();
    *tail_edited.last_mut().unwrap() = json!({"role": "user", "content": "something else"});
    assert_eq!(base, key("acme", &tail_edited));
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

fn words(n: usize) -> String {
    "word ".repeat(n)
}

/// A small policy for hand-made conversations: budget 100, last 1 turn, no grid, no minimum.
fn tight() -> TrimPolicy {
    TrimPolicy {
        budget_tokens: 100,
        keep_last_turns: nz(1),
        cut_every_turns: nz(1),
        summary_max_tokens: 10,
        min_dropped_tokens: 0,
    }
}

#[test]
fn keeps_what_it_cannot_or_need_not_trim() {
    let small = [user("hi")];
    assert_eq!(plan(&small, &tight(), &ApproxCounter), TrimPlan::Keep { reason: KeepReason::WithinBudget, tokens: 5 });
    let no_user = [assistant(&words(200)), assistant(&words(200))];
    assert!(matches!(
        plan(&no_user, &tight(), &ApproxCounter),
        TrimPlan::Keep { reason: KeepReason::NoUserMessage, .. }
    ));
    let only_system = [json!({"role": "system", "content": words(200)}), user(&words(200))];
    assert!(matches!(
        plan(&only_system, &tight(), &ApproxCounter),
        TrimPlan::Keep { reason: KeepReason::NothingToDrop, .. }
    ));
    let tiny_prefix = [user("hi"), assistant("hello"), user(&words(200))];
    let worth_it = TrimPolicy { min_dropped_tokens: 50, ..tight() };
    assert!(matches!(
        plan(&tiny_prefix, &worth_it, &ApproxCounter),
        TrimPlan::Keep { reason: KeepReason::NotWorthIt, .. }
    ));
    // Dropping less than the summary costs is never worth it either.
    let costly = TrimPolicy { summary_max_tokens: 1_000, ..tight() };
    let long = [user(&words(100)), assistant(&words(100)), user(&words(100))];
    assert!(matches!(plan(&long, &costly, &ApproxCounter), TrimPlan::Keep { reason: KeepReason::NotWorthIt, .. }));
}

#[test]
fn an_oversized_tail_is_kept_and_flagged() {
    let messages = [user(&words(100)), assistant(&words(100)), user(&words(300))];
    let TrimPlan::Trim(trim) = plan(&messages, &tight(), &ApproxCounter) else { panic!() };
    assert_eq!(trim.tail_start(), 2);
    assert!(trim.over_budget && trim.tokens_after_truncation > 100);
    assert_eq!(apply(messages.to_vec(), &trim, None).unwrap(), [messages[2].clone()]);
}

#[test]
fn system_and_developer_messages_anywhere_before_the_cut_stay_verbatim_and_first() {
    let messages = [
        json!({"role": "system", "content": "Be terse."}),
        user(&words(100)),
        json!({"role": "developer", "content": "From now on answer in French."}),
        assistant(&words(100)),
        user("merci"),
    ];
    let TrimPlan::Trim(trim) = plan(&messages, &tight(), &ApproxCounter) else { panic!() };
    assert_eq!(trim.span(), 1..4);
    assert_eq!(trim.dropped_count(), 2);
    let out = apply(messages.to_vec(), &trim, Some("User asked things.")).unwrap();
    assert_eq!(out[..2], messages[..1].iter().chain(&messages[2..3]).cloned().collect::<Vec<_>>()[..]);
    assert_eq!(
        out[2],
        json!({"role": "system", "content": "Summary of the earlier conversation:\nUser asked things."})
    );
    assert_eq!(out[3], messages[4]);
    // A blank summary is no summary.
    assert_eq!(apply(messages.to_vec(), &trim, Some("  \n")).unwrap().len(), 3);
}

#[test]
fn the_cut_moves_earlier_rather_than_split_a_misplaced_tool_result() {
    // A user message sits between a call and its result (invalid for OpenAI, but seen in the
    // wild): the cut may not fall on it.
    let messages = [
        user(&words(100)),
        assistant(&words(100)),
        user(&words(100)),
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        user("and?"),
        json!({"role": "tool", "tool_call_id": "c", "content": "42"}),
    ];
    let TrimPlan::Trim(trim) = plan(&messages, &tight(), &ApproxCounter) else { panic!() };
    assert_eq!(trim.tail_start(), 2);
}

#[test]
fn the_grid_is_used_while_it_fits_and_left_when_it_does_not() {
    // Six turns of 54-token messages (594 tokens); keep 2, grid of 3: the exact cut is at turn 4
    // (message 8: 162 tokens kept + a 24-token summary), the grid cut at turn 3 (message 6: 270 + 24).
    let mut messages = Vec::new();
    for _ in 0..6 {
        messages.push(user(&words(40)));
        messages.push(assistant(&words(40)));
    }
    messages.pop();
    let policy = TrimPolicy {
        budget_tokens: 300,
        keep_last_turns: nz(2),
        cut_every_turns: nz(3),
        summary_max_tokens: 10,
        min_dropped_tokens: 0,
    };
    let TrimPlan::Trim(roomy) = plan(&messages, &policy, &ApproxCounter) else { panic!() };
    assert_eq!(roomy.tail_start(), 6, "grid cut: three turns kept");
    let TrimPlan::Trim(tight) = plan(&messages, &TrimPolicy { budget_tokens: 250, ..policy }, &ApproxCounter) else {
        panic!()
    };
    assert_eq!(tight.tail_start(), 8, "exact cut: two turns kept, the grid would exceed the budget");
}

#[test]
fn a_plan_refuses_other_messages() {
    let messages = [user(&words(100)), assistant(&words(100)), user("ok")];
    let TrimPlan::Trim(trim) = plan(&messages, &tight(), &ApproxCounter) else { panic!() };
    assert_eq!(apply(messages[..2].to_vec(), &trim, None), Err(TrimError::PlanMismatch { planned: 3, actual: 2 }));
}

// ---- properties over arbitrary conversations -------------------------------------------------

#[derive(Clone, Debug)]
enum Block {
    System(usize),
    Developer(usize),
    User(usize, bool),
    Assistant(usize),
    Tools { calls: usize, text: usize, reversed: bool },
    Function(usize),
    Misplaced(usize),
    Orphan(usize),
}

fn block() -> impl Strategy<Value = Block> {
    let len = 0usize..400;
    prop_oneof![
        1 => len.clone().prop_map(Block::System),
        1 => len.clone().prop_map(Block::Developer),
        6 => (len.clone(), any::<bool>()).prop_map(|(n, image)| Block::User(n, image)),
        5 => len.clone().prop_map(Block::Assistant),
        3 => (1usize..4, len.clone(), any::<bool>()).prop_map(|(calls, text, reversed)| Block::Tools { calls, text, reversed }),
        1 => len.clone().prop_map(Block::Function),
        1 => len.clone().prop_map(Block::Misplaced),
        1 => len.prop_map(Block::Orphan),
    ]
}

fn build(blocks: &[Block]) -> Vec<Value> {
    let text = |n: usize| "abc ".repeat(n / 4);
    let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}});
    let mut out = Vec::new();
    for (b, block) in blocks.iter().enumerate() {
        match *block {
            Block::System(n) => out.push(json!({"role": "system", "content": text(n)})),
            Block::Developer(n) => out.push(json!({"role": "developer", "content": text(n)})),
            Block::User(n, false) => out.push(user(&text(n))),
            Block::User(n, true) => out.push(json!({"role": "user", "content": [
                {"type": "text", "text": text(n)}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]})),
            Block::Assistant(n) => out.push(assistant(&text(n))),
            Block::Tools { calls, text: n, reversed } => {
                let ids: Vec<String> = (0..calls).map(|c| format!("call_{b}_{c}")).collect();
                out.push(json!({"role": "assistant", "content": null, "tool_calls": ids.iter().map(|i| call(i)).collect::<Vec<_>>()}));
                let mut results: Vec<Value> =
                    ids.iter().map(|i| json!({"role": "tool", "tool_call_id": i, "content": text(n)})).collect();
                if reversed {
                    results.reverse();
                }
                out.extend(results);
            }
            Block::Function(n) => {
                out.push(json!({"role": "assistant", "function_call": {"name": "g", "arguments": "{}"}}));
                out.push(json!({"role": "function", "name": "g", "content": text(n)}));
            }
            Block::Misplaced(n) => {
                let id = format!("late_{b}");
                out.push(json!({"role": "assistant", "content": null, "tool_calls": [call(&id)]}));
                out.push(user(&text(n)));
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text(n)}));
            }
            Block::Orphan(n) => out.push(json!({"role": "tool", "tool_call_id": "nobody", "content": text(n)})),
        }
    }
    out
}

fn policy() -> impl Strategy<Value = TrimPolicy> {
    (0u64..3_000, 1u32..6, 1u32..6, 0u32..300, 0u64..500).prop_map(|(budget, keep, every, summary, min)| TrimPolicy {
        budget_tokens: budget,
        keep_last_turns: nz(keep),
        cut_every_turns: nz(every),
        summary_max_tokens: summary,
        min_dropped_tokens: min,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_conversation_breaks_a_guarantee(blocks in prop::collection::vec(block(), 0..40), policy in policy()) {
        let messages = build(&blocks);
        let plan = plan(&messages, &policy, &ApproxCounter);
        check(&messages, &plan)?;
        match &plan {
            TrimPlan::Keep { reason: KeepReason::WithinBudget, tokens } => prop_assert!(*tokens <= policy.budget_tokens),
            TrimPlan::Keep { tokens, .. } => prop_assert!(*tokens > policy.budget_tokens),
            TrimPlan::Trim(trim) => {
                prop_assert!(trim.tokens_dropped >= policy.min_dropped_tokens);
                prop_assert_eq!(trim.over_budget, trim.tokens_after_summary > policy.budget_tokens);
                // At least keep_last_turns turns (or every turn there is) stay whole.
                let users = messages.iter().filter(|m| role(m) == "user").count();
                let kept_users = messages[trim.tail_start()..].iter().filter(|m| role(m) == "user").count();
                prop_assert!(kept_users >= users.min(policy.keep_last_turns.get() as usize));
            }
        }
    }

    #[test]
    fn appending_a_turn_never_changes_the_key_of_an_unchanged_prefix(
        blocks in prop::collection::vec(block(), 1..30), extra in 0usize..400, policy in policy(),
    ) {
        let a = build(&blocks);
        let mut b = a.clone();
        b.push(assistant(&"abc ".repeat(extra / 4)));
        b.push(user("next"));
        if let (TrimPlan::Trim(ta), TrimPlan::Trim(tb)) =
            (plan(&a, &policy, &ApproxCounter), plan(&b, &policy, &ApproxCounter))
        {
            let (ka, kb) = (prefix_key("t", &SUMMARISER, ta.dropped(&a)), prefix_key("t", &SUMMARISER, tb.dropped(&b)));
            prop_assert_eq!(ka == kb, ta.span() == tb.span());
            prop_assert!(tb.tail_start() >= ta.tail_start(), "the cut never moves backwards as a conversation grows");
        }
    }
}
