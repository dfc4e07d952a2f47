//! Which cut points keep every tool or function call together with its results.
//!
//! Owns the pairing of results to calls: a `tool` message answers the earlier assistant call with
//! its `tool_call_id`; a legacy `function` message answers the latest earlier `function_call`. A
//! result whose call cannot be found (unknown or missing id) is tied to the latest earlier
//! message that makes calls, so malformed input errs towards keeping messages together. It never
//! chooses a cut; [`plan`](super::plan) picks among the safe ones.

use std::collections::HashMap;

use serde_json::Value;

use super::message::{function_call, makes_calls, str_field, tool_calls, Role};

/// `safe[c]` (for `c` in `0..=messages.len()`) says whether starting the kept tail at message
/// `c` leaves every call and its results on the same side of the cut.
pub(crate) fn safe_cuts(messages: &[Value]) -> Vec<bool> {
    // crossings[c] counts call→result links (a, b) with a < c <= b, via a difference array.
    let mut delta = vec![0i64; messages.len() + 2];
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut last_caller: Option<usize> = None;
    let mut last_function_caller: Option<usize> = None;
    for (i, message) in messages.iter().enumerate() {
        let answers = match Role::of(message) {
            Role::Assistant => {
                for id in tool_calls(message).iter().filter_map(|call| str_field(call, "id")) {
                    by_id.insert(id, i);
                }
                if function_call(message).is_some() {
                    last_function_caller = Some(i);
                }
                if makes_calls(message) {
                    last_caller = Some(i);
                }
                None
            }
            Role::Tool => str_field(message, "tool_call_id").and_then(|id| by_id.get(id).copied()).or(last_caller),
            Role::Function => last_function_caller.or(last_caller),
            Role::System | Role::User | Role::Other => None,
        };
        if let Some(call) = answers {
            delta[call + 1] += 1;
            delta[i + 1] -= 1;
        }
    }
    let mut crossing = 0;
    delta[..=messages.len()]
        .iter()
        .map(|d| {
            crossing += d;
            crossing == 0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unsafe_cuts(messages: Value) -> Vec<usize> {
        let Value::Array(messages) = messages else { unreachable!("test input is an array") };
        safe_cuts(&messages).iter().enumerate().filter(|(_, safe)| !**safe).map(|(i, _)| i).collect()
    }

    #[test]
    fn parallel_tool_calls_stay_with_all_their_results() {
        let cuts = unsafe_cuts(json!([
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "tool_calls": [{"id": "a"}, {"id": "b"}]},
            {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "b", "content": "rain"},
            {"role": "assistant", "content": "Paris sunny, Rome rain."}
        ]));
        assert_eq!(cuts, [2, 3]);
    }

    #[test]
    fn results_matched_by_id_across_a_misplaced_user_message() {
        let cuts = unsafe_cuts(json!([
            {"role": "assistant", "tool_calls": [{"id": "a"}]},
            {"role": "user", "content": "still there?"},
            {"role": "assistant", "tool_calls": [{"id": "b"}]},
            {"role": "tool", "tool_call_id": "a", "content": "late"}
        ]));
        assert_eq!(cuts, [1, 2, 3]);
    }

    #[test]
    fn legacy_functions_and_orphans_tie_to_the_latest_caller() {
        let cuts = unsafe_cuts(json!([
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "1"},
            {"role": "user", "content": "and?"},
            {"role": "assistant", "tool_calls": [{"id": "x"}]},
            {"role": "user", "content": "hm"},
            {"role": "tool", "tool_call_id": "unknown", "content": "?"},
            {"role": "tool", "content": "no id"}
        ]));
        assert_eq!(cuts, [1, 4, 5, 6]);
        // A result with no earlier caller ties to nothing.
        assert!(unsafe_cuts(json!([{"role": "tool", "tool_call_id": "a"}, {"role": "user"}])).is_empty());
    }
}
