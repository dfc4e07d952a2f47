//! The Redis key layout: names of every key [`super::RedisStore`] touches.
//!
//! Owns the hash tags that keep each script's keys in one Redis Cluster slot and the escaping that
//! keeps any tenant or user name from breaking out of its tag or colliding with another's. It never
//! talks to Redis.
//!
//! ```text
//! P{u:T:U}:q      hash  m u r pm pu pr tier   month counters of (tenant T, user U)
//! P{u:T:U}:res    hash  id -> "month|tokens|R" (held) or "month|0|S" (swept tombstone)
//! P{u:T:U}:resx   zset  id -> expiry (ms, server clock)
//! P{u:T:U}:rr     string  requests/min GCRA TAT (µs)
//! P{u:T:U}:rt     string  tokens/min GCRA TAT (µs)
//! P{t:T}:q|res|resx        the same three for the tenant's own cap and usage
//! P{i:M}:all               zset  "T:U" -> used in month M (usage index, all users)
//! P{i:M}:tier:X            … of tier X;   P{i:M}:tenant:T   … of tenant T
//! P{i:M}:tier:X:tenant:T   … of tier X within tenant T
//! ```
//! P is the configured prefix; T, U, X are escaped (`%` `{` `}` `:` as `%25` `%7B` `%7D` `%3A`).

use std::borrow::Cow;

/// Keys of one (tenant, user): all share the user's hash tag.
pub(crate) struct UserKeys {
    pub counters: String,
    pub reservations: String,
    pub expiries: String,
    pub requests: String,
    pub tokens: String,
}

/// Keys of one tenant: all share the tenant's hash tag.
pub(crate) struct TenantKeys {
    pub counters: String,
    pub reservations: String,
    pub expiries: String,
}

/// Builds key names under one (escaped) prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: escape(prefix).into_owned() }
    }

    pub fn user(&self, tenant: &str, user: &str) -> UserKeys {
        let base = format!("{}{{u:{}:{}}}", self.prefix, escape(tenant), escape(user));
        UserKeys {
            counters: format!("{base}:q"),
            reservations: format!("{base}:res"),
            expiries: format!("{base}:resx"),
            requests: format!("{base}:rr"),
            tokens: format!("{base}:rt"),
        }
    }

    pub fn tenant(&self, tenant: &str) -> TenantKeys {
        let base = format!("{}{{t:{}}}", self.prefix, escape(tenant));
        TenantKeys {
            counters: format!("{base}:q"),
            reservations: format!("{base}:res"),
            expiries: format!("{base}:resx"),
        }
    }

    /// The usage index of `month`, narrowed to a tier and/or a tenant.
    pub fn index(&self, month: &str, tier: Option<&str>, tenant: Option<&str>) -> String {
        let base = format!("{}{{i:{}}}", self.prefix, escape(month));
        match (tier, tenant) {
            (None, None) => format!("{base}:all"),
            (Some(x), None) => format!("{base}:tier:{}", escape(x)),
            (None, Some(t)) => format!("{base}:tenant:{}", escape(t)),
            (Some(x), Some(t)) => format!("{base}:tier:{}:tenant:{}", escape(x), escape(t)),
        }
    }
}

/// An index member naming (tenant, user).
pub(crate) fn member(tenant: &str, user: &str) -> String {
    format!("{}:{}", escape(tenant), escape(user))
}

/// The (tenant, user) an index member names.
pub(crate) fn parse_member(member: &str) -> Option<(String, String)> {
    let (tenant, user) = member.split_once(':')?;
    Some((unescape(tenant)?, unescape(user)?))
}

fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '{', '}', ':']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "25" => '%',
            "7B" => '{',
            "7D" => '}',
            "3A" => ':',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag Redis Cluster would hash: the text between the first `{` and the next `}`.
    fn tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = key[open..].find('}').unwrap() + open;
        &key[open + 1..close]
    }

    #[test]
    fn user_keys_share_one_tag_that_names_cannot_break() {
        let keys = Keys::new("sl{x}:");
        let k = keys.user("ten}{ant", "us:er%");
        let t = tag(&k.counters);
        assert_eq!(t, "u:ten%7D%7Bant:us%3Aer%25");
        for key in [&k.reservations, &k.expiries, &k.requests, &k.tokens] {
            assert_eq!(tag(key), t);
        }
        assert!(k.counters.starts_with("sl%7Bx%7D%3A{"));
        // "a:b" + "c" and "a" + "b:c" must not collide.
        assert_ne!(keys.user("a:b", "c").counters, keys.user("a", "b:c").counters);
        let tk = keys.tenant("a{b");
        assert_eq!(tag(&tk.counters), "t:a%7Bb");
        assert_eq!(tag(&tk.expiries), tag(&tk.reservations));
    }

    #[test]
    fn members_roundtrip() {
        for (t, u) in [("acme", "bob"), ("a:b%", "{c}"), ("", "")] {
            assert_eq!(parse_member(&member(t, u)), Some((t.to_owned(), u.to_owned())));
        }
        assert_eq!(parse_member("a%zz:b"), None);
        assert_eq!(
            Keys::new("p:").index("2025-01", Some("free"), Some("a:b")),
            "p%3A{i:2025-01}:tier:free:tenant:a%3Ab"
        );
    }
}
