//! `${ENV_VAR}` references in config values.
//!
//! Secrets never sit literally in `config.toml`: any string may contain `${NAME}` (required) or
//! `${NAME:-default}` (fallback when unset or empty). Substitution happens on the parsed TOML tree so
//! every missing variable is reported with its TOML path.

use super::Problems;

/// Replaces every `${…}` reference in every string of `value`, recording missing variables.
pub fn interpolate(
    value: &mut toml::Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) {
    match value {
        toml::Value::String(s) if s.contains("${") => match expand(s, lookup) {
            Ok(expanded) => *s = expanded,
            Err(msg) => problems.push(path, msg),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), lookup, problems);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                interpolate(item, &child, lookup, problems);
            }
        }
        _ => {}
    }
}

/// Expands the references in one string.
fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("unterminated `${` reference: write `${NAME}`".to_string());
        };
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{reference}}}` is not a valid environment variable reference"));
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("secret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_required_and_default_references() {
        assert_eq!(expand("Bearer ${KEY}", &env).as_deref(), Ok("Bearer secret"));
        assert_eq!(expand("${NOPE:-http://x}/v1", &env).as_deref(), Ok("http://x/v1"));
        assert_eq!(expand("${EMPTY:-d}", &env).as_deref(), Ok("d"));
        assert_eq!(expand("plain", &env).as_deref(), Ok("plain"));
    }

    #[test]
    fn reports_missing_and_malformed_references_with_path() {
        let mut value: toml::Value = toml::from_str("[providers.a]\napi_key = \"${MISSING}\"\nx = \"${bad\"").unwrap();
        let mut problems = Problems::default();
        interpolate(&mut value, "", &env, &mut problems);
        let text = problems.to_string();
        assert!(text.contains("providers.a.api_key: environment variable `MISSING` is not set"), "{text}");
        assert!(text.contains("providers.a.x: unterminated"), "{text}");
    }
}
