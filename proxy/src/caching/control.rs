//! The client's say over the cache, from its request headers: `Cache-Control` (`no-cache`,
//! `max-age=0`: don't read but refresh; `no-store`: neither read nor write) and Sluice's own
//! `x-sluice-cache` (`bypass`, `refresh`, or `force` to cache a sampled answer).
//!
//! Owns the parsing only; [`super::decide`] combines it with config and eligibility.

use http::HeaderMap;

use crate::error::GatewayError;

/// The request header carrying Sluice's own cache directive.
pub const REQUEST_HEADER: &str = "x-sluice-cache";

/// What the request headers ask of the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// Do not answer from the cache.
    pub skip_read: bool,
    /// Do not store this answer.
    pub skip_write: bool,
    /// Cache even a sampled (non-deterministic) answer.
    pub opt_in: bool,
}

/// Reads `Cache-Control` and `x-sluice-cache`. An `x-sluice-cache` value Sluice doesn't know is a
/// 400 (a silently ignored typo would cache what the client meant to bypass); unknown
/// `Cache-Control` directives are ignored, as HTTP caches do.
pub fn parse(headers: &HeaderMap) -> Result<Directives, GatewayError> {
    let mut d = Directives::default();
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            if directive.eq_ignore_ascii_case("no-store") {
                d.skip_read = true;
                d.skip_write = true;
            } else if directive.eq_ignore_ascii_case("no-cache") {
                d.skip_read = true;
            } else if let Some((name, age)) = directive.split_once('=') {
                if name.trim().eq_ignore_ascii_case("max-age") && age.trim().trim_matches('"') == "0" {
                    d.skip_read = true;
                }
            }
        }
    }
    if let Some(value) = headers.get(REQUEST_HEADER) {
        let value = value.to_str().unwrap_or("").trim();
        if value.eq_ignore_ascii_case("bypass") {
            d.skip_read = true;
            d.skip_write = true;
        } else if value.eq_ignore_ascii_case("refresh") {
            d.skip_read = true;
        } else if value.eq_ignore_ascii_case("force") {
            d.opt_in = true;
        } else {
            return Err(GatewayError::InvalidRequest(sluice_providers::InvalidRequest {
                message: format!("Invalid header `{REQUEST_HEADER}`: use `bypass` (neither read nor store), `refresh` (call upstream and store the new answer) or `force` (cache even a sampled answer)."),
                param: Some(REQUEST_HEADER.to_string()),
                code: Some("invalid_value"),
            }));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    fn d(pairs: &[(&'static str, &'static str)]) -> Directives {
        parse(&headers(pairs)).unwrap()
    }

    #[test]
    fn cache_control_directives() {
        assert_eq!(d(&[]), Directives::default());
        assert_eq!(d(&[("cache-control", "no-cache")]), Directives { skip_read: true, ..Default::default() });
        assert_eq!(d(&[("cache-control", "max-age=0")]), Directives { skip_read: true, ..Default::default() });
        assert_eq!(d(&[("cache-control", "max-age=60")]), Directives::default());
        let none = Directives { skip_read: true, skip_write: true, opt_in: false };
        assert_eq!(d(&[("cache-control", "private, No-Store")]), none);
        assert_eq!(d(&[("cache-control", "no-cache"), ("cache-control", "no-store")]), none);
    }

    #[test]
    fn sluice_header_values() {
        let none = Directives { skip_read: true, skip_write: true, opt_in: false };
        assert_eq!(d(&[("x-sluice-cache", "bypass")]), none);
        assert_eq!(d(&[("x-sluice-cache", "REFRESH")]), Directives { skip_read: true, ..Default::default() });
        assert_eq!(d(&[("x-sluice-cache", "force")]), Directives { opt_in: true, ..Default::default() });
        assert!(parse(&headers(&[("x-sluice-cache", "off")])).is_err());
    }
}
