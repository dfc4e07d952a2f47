//! Validation of the embeddings settings of `[models."NAME"]`: the vector size a candidate is asked
//! for, how many inputs one upstream call may carry, and micro-batching of concurrent requests.

use std::time::Duration;

use sluice_policies::batch::BatchLimits;
use sluice_providers::Protocol;

use super::build::duration;
use super::file::{CandidateFile, ModelFile};
use super::{Candidate, ModelKind, Problems};

/// Default of `batch_max_inputs`: Workers AI's per-call limit, so a merged batch is one call.
pub const DEFAULT_BATCH_MAX_INPUTS: usize = 100;

/// Longest `batch_window` accepted: every batched request waits up to this long.
const MAX_BATCH_WINDOW: Duration = Duration::from_secs(1);

/// The `dimensions` a candidate is asked for: only OpenAI-kind candidates of an embeddings route
/// with the same fixed `dimensions` can take it (Workers AI models have one vector size, and
/// `text-embedding-ada-002` refuses the parameter).
pub(super) fn candidate_dimensions(
    cpath: &str,
    kind: ModelKind,
    m: &ModelFile,
    c: &CandidateFile,
    protocol: Protocol,
    problems: &mut Problems,
) -> Option<u64> {
    let asked = c.dimensions?;
    let path = format!("{cpath}.dimensions");
    if kind != ModelKind::Embeddings {
        problems.push(&path, "applies to embeddings routes only");
    } else if protocol != Protocol::OpenAi {
        problems.push(
            &path,
            "only OpenAI-kind candidates can be asked for a vector size; Workers AI models make vectors of one fixed size",
        );
    } else if c.model.contains("ada-002") {
        problems.push(
            &path,
            format!("`{}` always makes 1536-dimensional vectors and refuses `dimensions`; use text-embedding-3-small or text-embedding-3-large", c.model),
        );
    } else if asked == 0 {
        problems.push(&path, "must be at least 1");
    } else {
        match m.dimensions {
            None => problems.push(&path, "set the route's `dimensions` too: the vector size every candidate must make"),
            Some(fixed) if fixed != asked => problems
                .push(&path, format!("must equal the route's `dimensions` ({fixed}), or the vector sizes differ")),
            Some(_) => {}
        }
    }
    Some(asked)
}

/// Most inputs per upstream call, and the micro-batching limits (a zero window: off).
pub(super) fn batching(
    path: &str,
    kind: ModelKind,
    m: &ModelFile,
    candidates: &[Candidate],
    problems: &mut Problems,
) -> (usize, BatchLimits) {
    let set = m.max_batch_inputs.is_some() || m.batch_window.is_some() || m.batch_max_inputs.is_some();
    if kind != ModelKind::Embeddings && set {
        problems.push(path, "max_batch_inputs, batch_window and batch_max_inputs apply to embeddings routes only");
    }
    // Every candidate must take a whole call: the smallest provider limit bounds the chunks.
    let limit =
        candidates.iter().map(|c| (sluice_providers::max_embedding_inputs(c.protocol), c)).min_by_key(|(n, _)| *n);
    let max_batch_inputs = match (m.max_batch_inputs, limit) {
        (Some(0), _) => {
            problems.push(format!("{path}.max_batch_inputs"), "must be at least 1");
            1
        }
        (Some(n), Some((most, c))) if n > most => {
            problems.push(
                format!("{path}.max_batch_inputs"),
                format!("is above what `{}` takes in one call ({most} inputs)", c.breaker_key),
            );
            most
        }
        (Some(n), _) => n,
        (None, Some((most, _))) => most,
        (None, None) => DEFAULT_BATCH_MAX_INPUTS,
    };
    let window = duration(&m.batch_window, &format!("{path}.batch_window"), Duration::ZERO, problems);
    if window > MAX_BATCH_WINDOW {
        problems.push(
            format!("{path}.batch_window"),
            "must be at most 1s: every batched request waits up to this long (a few ms is typical)",
        );
    }
    let max_items = m.batch_max_inputs.unwrap_or(DEFAULT_BATCH_MAX_INPUTS);
    if max_items == 0 || max_items > sluice_providers::max_embedding_inputs(Protocol::OpenAi) {
        problems.push(format!("{path}.batch_max_inputs"), "must be between 1 and 2048");
    }
    (max_batch_inputs, BatchLimits { window, max_items: max_items.max(1) })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::load_str;

    fn env(_: &str) -> Option<String> {
        None
    }

    const PROVIDERS: &str = r#"
        [providers.openai]
        kind = "openai"
        base_url = "https://api.openai.com/v1"
        [providers.cf]
        kind = "cloudflare"
        base_url = "https://api.cloudflare.com/client/v4/accounts/a/ai"
    "#;

    #[test]
    fn defaults_split_at_the_smallest_provider_limit_and_do_not_batch() {
        let text = format!(
            r#"{PROVIDERS}
            [models."e"]
            kind = "embeddings"
            dimensions = 768
            candidates = [{{ provider = "cf", model = "@cf/baai/bge-base-en-v1.5" }}, {{ provider = "openai", model = "text-embedding-3-small", dimensions = 768 }}]
            [models."o"]
            kind = "embeddings"
            candidates = [{{ provider = "openai", model = "text-embedding-3-large" }}]
            batch_window = "2ms"
            "#
        );
        let config = load_str(&text, &env).unwrap();
        let e = &config.models["e"];
        assert_eq!(e.max_batch_inputs, 100);
        assert!(e.batch.window.is_zero(), "micro-batching is off by default");
        assert_eq!(e.candidates[1].dimensions, Some(768));
        let o = &config.models["o"];
        assert_eq!(o.max_batch_inputs, 2048);
        assert_eq!((o.batch.window, o.batch.max_items), (Duration::from_millis(2), 100));
    }

    #[test]
    fn impossible_settings_are_reported_with_their_path() {
        let text = format!(
            r#"{PROVIDERS}
            [models."ada"]
            kind = "embeddings"
            dimensions = 768
            candidates = [{{ provider = "openai", model = "text-embedding-ada-002", dimensions = 768 }}]
            [models."native"]
            kind = "embeddings"
            dimensions = 768
            max_batch_inputs = 500
            batch_window = "5s"
            batch_max_inputs = 0
            candidates = [{{ provider = "cf", model = "@cf/baai/bge-base-en-v1.5", dimensions = 768 }}]
            [models."mismatch"]
            kind = "embeddings"
            dimensions = 768
            candidates = [{{ provider = "openai", model = "text-embedding-3-small", dimensions = 512 }}]
            [models."chat"]
            batch_window = "2ms"
            candidates = [{{ provider = "openai", model = "gpt-4o", dimensions = 768 }}]
            "#
        );
        let problems = load_str(&text, &env).err().unwrap().to_string();
        for needle in [
            "models.\"ada\".candidates[0].dimensions: `text-embedding-ada-002` always makes 1536",
            "models.\"native\".candidates[0].dimensions: only OpenAI-kind candidates",
            "models.\"native\".max_batch_inputs: is above what `cf/@cf/baai/bge-base-en-v1.5` takes in one call (100",
            "models.\"native\".batch_window: must be at most 1s",
            "models.\"native\".batch_max_inputs: must be between 1 and 2048",
            "models.\"mismatch\".candidates[0].dimensions: must equal the route's `dimensions` (768)",
            "models.\"chat\": max_batch_inputs, batch_window and batch_max_inputs apply to embeddings routes only",
            "models.\"chat\".candidates[0].dimensions: applies to embeddings routes only",
        ] {
            assert!(problems.contains(needle), "missing {needle} in:\n{problems}");
        }
    }
}
