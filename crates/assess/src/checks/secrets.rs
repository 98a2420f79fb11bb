//! Hard-coded secrets in text: known key formats, credentials in URLs,
//! secret-named assignments, and high-entropy quoted strings. Pure.
//!
//! A hit never carries the secret: only its kind and a redacted form (the
//! first four characters and the length).

/// One hit on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// 1-based line.
    pub line: usize,
    /// Human description, already redacted.
    pub what: String,
}

/// A secret as it may be shown: its length only, after the format's own
/// public prefix (`AKIA`, `ghp_`) when it has one. No character of the
/// secret part is ever shown.
fn redact(s: &str, format_prefix: &str) -> String {
    let n = s.chars().count();
    if format_prefix.is_empty() {
        format!("({n} characters)")
    } else {
        format!("{format_prefix}… ({n} characters)")
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `prefix` followed by at least `min` characters of `class`, not inside a
/// longer word. Returns the matched token.
fn token<'a>(line: &'a str, prefix: &str, min: usize, class: fn(char) -> bool) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = line[from..].find(prefix) {
        let start = from + at;
        let before_ok = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let rest = &line[start + prefix.len()..];
        let len = rest.find(|c: char| !class(c)).unwrap_or(rest.len());
        if before_ok && len >= min {
            return Some(&line[start..start + prefix.len() + len]);
        }
        from = start + prefix.len();
    }
    None
}

fn known_formats(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = token(line, "AKIA", 16, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit()
    }) && t.len() == 20
    {
        out.push(format!("AWS access key ID {}", redact(t, "AKIA")));
    }
    if line.contains("-----BEGIN") && line.contains("PRIVATE KEY-----") {
        out.push("PEM private key block".into());
    }
    for prefix in ["xoxb-", "xoxp-", "xoxa-", "xoxr-"] {
        if let Some(t) = token(line, prefix, 10, |c| c.is_ascii_alphanumeric() || c == '-') {
            out.push(format!("Slack token {}", redact(t, prefix)));
        }
    }
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"] {
        if let Some(t) = token(line, prefix, 36, |c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(format!("GitHub token {}", redact(t, prefix)));
        }
    }
    out
}

/// `scheme://user:password@host` with a literal password.
fn url_credentials(line: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = line[from..].find("://") {
        let start = from + at + 3;
        let rest = &line[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '/' | '>'))
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, pw)) = userinfo.split_once(':')
            && !pw.is_empty()
            && !pw.starts_with('$')
            && !pw.starts_with('{')
            && !pw.starts_with('<')
        {
            return Some(format!("password in a URL {}", redact(pw, "")));
        }
        from = start;
    }
    None
}

/// Endings of names that hold a secret (`DB_PASSWORD`, `jwt_secret`,
/// `AWS_SECRET_ACCESS_KEY`); `password_encryption` or
/// `access_token_seconds` do not end so.
const SECRET_NAMES: [&str; 11] = [
    "password",
    "passwd",
    "pass",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "auth_key",
    "secret_key",
];

/// `NAME=value`, `NAME = "value"`, `NAME: value`, `export NAME=value` where
/// the name says it holds a secret and the value is a literal.
fn assignment(line: &str) -> Option<String> {
    let l = line.trim_start();
    if l.starts_with(['#', ';']) || l.starts_with("//") {
        return None;
    }
    let l = l.strip_prefix("export ").unwrap_or(l);
    let at = l.find(['=', ':'])?;
    let name = l[..at].trim().trim_matches(['"', '\'']);
    if name.is_empty() || !name.chars().all(|c| is_word(c) || c == '.' || c == '-') {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let secret_name = SECRET_NAMES.iter().any(|n| {
        lower
            .strip_suffix(n)
            .is_some_and(|head| head.is_empty() || head.ends_with(['_', '-', '.']))
    });
    if !secret_name {
        return None;
    }
    let value = l[at + 1..].trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.split_once('"').map(|x| x.0))
        .or_else(|| {
            value
                .strip_prefix('\'')
                .and_then(|v| v.split_once('\'').map(|x| x.0))
        })
        .unwrap_or_else(|| value.split_whitespace().next().unwrap_or(""));
    let v = value.trim();
    if v.chars().count() < 8
        || v.starts_with(['$', '<', '{', '%', '/', '.', '['])
        || v.contains("://")
        || v.contains('/')
        || v.chars().all(|c| c.is_ascii_digit())
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none"
        )
    {
        return None;
    }
    Some(format!("{name} holds a literal secret {}", redact(v, "")))
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::BTreeMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Quoted strings of 20+ characters that look random: only key-alphabet
/// characters, letters and digits mixed, not a path or URL, and entropy of
/// at least 4.0 bits per character (3.5 for long hex strings).
fn high_entropy(line: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let parts: Vec<&str> = line.split(quote).collect();
        for (i, s) in parts.iter().copied().enumerate() {
            // Odd parts with a closing quote after them are quoted.
            if i % 2 == 0 || i + 1 >= parts.len() {
                continue;
            }
            if s.len() < 20
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=_-.~".contains(c))
                || s.starts_with(['/', '.', '~'])
                || !s.chars().any(|c| c.is_ascii_digit())
                || !s.chars().any(|c| c.is_ascii_alphabetic())
            {
                continue;
            }
            if looks_like_words(s) {
                continue;
            }
            let h = entropy(s);
            let hex = s.chars().all(|c| c.is_ascii_hexdigit());
            if (hex && s.len() >= 32 && h >= 3.5) || h >= 4.0 {
                return Some(format!(
                    "high-entropy string {}, {h:.1} bits per character",
                    redact(s, "")
                ));
            }
        }
    }
    None
}

/// Identifiers, names and versions: every piece between separators is
/// all letters of one case or all digits (`cryptobot-hardening-2024`,
/// `1.2.3-alpha.4`). Random keys mix letters and digits within a piece.
fn looks_like_words(s: &str) -> bool {
    s.split(['-', '_', '.', '~', '/', '+', '='])
        .filter(|p| !p.is_empty())
        .all(|p| {
            p.chars().all(|c| c.is_ascii_digit())
                || p.chars().all(|c| c.is_ascii_lowercase())
                || p.chars().all(|c| c.is_ascii_uppercase())
                || (p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && p.chars().skip(1).all(|c| c.is_ascii_lowercase()))
        })
}

/// Every hit in a text.
pub fn scan(text: &str) -> Vec<Hit> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut found = known_formats(line);
        if let Some(u) = url_credentials(line) {
            found.push(u);
        }
        if found.is_empty()
            && let Some(a) = assignment(line)
        {
            found.push(a);
        }
        if found.is_empty()
            && let Some(h) = high_entropy(line)
        {
            found.push(h);
        }
        out.extend(found.into_iter().map(|what| Hit { line: i + 1, what }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<String> {
        scan(t).into_iter().map(|h| h.what).collect()
    }

    #[test]
    fn known_key_formats() {
        let aws = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE";
        let k = kinds(aws);
        assert!(k[0].starts_with("AWS access key ID AKIA…"), "{k:?}");
        assert!(!k.join(" ").contains("IOSFODNN7EXAMPLE"));
        assert_eq!(
            kinds("-----BEGIN OPENSSH PRIVATE KEY-----"),
            ["PEM private key block"]
        );
        assert_eq!(kinds("-----BEGIN RSA PRIVATE KEY-----").len(), 1);
        assert!(kinds("SLACK=xoxb-1234567890-abcdefghij")[0].starts_with("Slack token"));
        assert!(kinds(&format!("t: ghp_{}", "a1".repeat(18)))[0].starts_with("GitHub token"));
        assert!(kinds("NOTAKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(kinds("-----BEGIN CERTIFICATE-----").is_empty());
    }

    #[test]
    fn assignments_and_urls() {
        assert_eq!(kinds("JWT_SECRET=Zx9pL2mQ8vR4tY7u").len(), 1);
        assert_eq!(kinds("export DB_PASSWORD='hunter2hunter2'").len(), 1);
        assert_eq!(kinds("url = \"postgresql://app:S3cretPw@db/app\"").len(), 1);
        for clean in [
            "password = ${DB_PASSWORD}",
            "# password = example-password",
            "tls_key = \"config/tls/server.key\"",
            "access_token_seconds = 900",
            "api_token_file = /run/secrets/token",
            "url = \"postgresql://app@db/app\"",
            "require_password = true",
            "password_encryption = 'scram-sha-256'",
            "compass = northnorthwest",
        ] {
            assert!(kinds(clean).is_empty(), "{clean}: {:?}", kinds(clean));
        }
    }

    #[test]
    fn entropy_of_quoted_values() {
        assert!(entropy("aaaa") < 0.1);
        assert!(entropy("0123456789abcdef") > 3.9);
        let random = "value = \"q8Zr2LmX9vT4kW7pN3bY6cH1\"";
        assert_eq!(kinds(random).len(), 1, "{:?}", kinds(random));
        for clean in [
            "content_security_policy = \"default-src 'none'; frame-ancestors 'none'\"",
            "name = \"cryptobot-security-hardening-2024\"",
            "path = \"/opt/cryptobot/config/tls/server.crt\"",
            "issuer = \"Cryptobot\"",
            "version = \"1.2.3-alpha.4-build.567\"",
        ] {
            assert!(kinds(clean).is_empty(), "{clean}: {:?}", kinds(clean));
        }
    }
}
