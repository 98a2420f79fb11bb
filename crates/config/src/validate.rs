//! Semantic validation: values that parse but are impossible or unsafe.
//! Each rule yields `(dotted key, what is wrong, how to fix it)`; messages do
//! not repeat string values (they could be secrets typed in the wrong place).

use std::collections::BTreeMap;

use crate::model::{Exposure, Settings};

type Found = (String, String, String);

fn problem(key: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Found {
    (key.into(), message.into(), fix.into())
}

/// `[a-z_][a-z0-9_]*`, at most 63 bytes: safe as a PostgreSQL/Redis name
/// without quoting.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= 63
}

pub(crate) fn validate(s: &Settings) -> Vec<Found> {
    let mut out = Vec::new();
    services(s, &mut out);
    database(s, &mut out);
    redis(s, &mut out);
    server(s, &mut out);
    security(s, &mut out);
    out.extend(crate::firewall::problems(s));
    tls(s, &mut out);
    vault(s, &mut out);
    out
}

/// `[[vault.extra_paths]]`: a signed method, a canonical path (the rules of
/// the vault's `policy::check_path`, which refuses the same forms again at
/// signing time), a class, and plain parameter names. Whether the key
/// exists is only known to the database, so it is not checked here.
fn vault(s: &Settings, out: &mut Vec<Found>) {
    for (i, x) in s.vault.extra_paths.iter().enumerate() {
        let key = |field: &str| format!("vault.extra_paths[{i}].{field}");
        let id_ok = x.key.strip_prefix("xk_").is_some_and(|h| {
            !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !id_ok {
            out.push(problem(
                key("key"),
                "not an exchange key id",
                "use the id `cryptobot keys list` shows (`xk_` and hex digits)",
            ));
        }
        if !matches!(x.method.as_str(), "GET" | "POST" | "PUT" | "DELETE") {
            out.push(problem(
                key("method"),
                "the vault signs GET, POST, PUT and DELETE only",
                "use one of GET, POST, PUT or DELETE, in upper case",
            ));
        }
        if let Some(why) = extra_path_problem(&x.path) {
            out.push(problem(
                key("path"),
                format!("the path is not canonical: {why}"),
                "give the exact path the exchange documents, e.g. /api/v3/myTrades (no query, no `%`, `//`, `.` or `..` segments, no trailing `/`)",
            ));
        }
        if !matches!(
            x.class.as_str(),
            "read" | "trade" | "withdraw" | "account-admin"
        ) {
            out.push(problem(
                key("class"),
                "unknown class",
                "use read, trade, withdraw or account-admin",
            ));
        }
        if let Some(params) = &x.params {
            let plain = |n: &String| {
                !n.is_empty()
                    && n.len() <= 64
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            };
            if !params.iter().all(plain) {
                out.push(problem(
                    key("params"),
                    "a parameter name is not a plain name",
                    "list the documented parameter names: letters, digits, `_`, `-` or `.`",
                ));
            }
        }
    }
}

/// Why `path` is not a canonical request path, if it is not (the same
/// rules as `cryptobot_vault::policy::check_path`).
fn extra_path_problem(path: &str) -> Option<&'static str> {
    if path.len() > 256 {
        return Some("it is longer than 256 characters");
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'))
    {
        return Some("it holds a character other than letters, digits, `/`, `-`, `_`, `.` or `~`");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Some("it must start with `/`");
    };
    if rest.is_empty() || rest.ends_with('/') {
        return Some("it ends with `/`");
    }
    if rest.split('/').any(|seg| seg.is_empty()) {
        return Some("it has an empty segment (`//`)");
    }
    if rest.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("it has a `.` or `..` segment");
    }
    None
}

/// A DNS name as a certificate can carry it: labels of letters, digits and
/// `-`, an optional leading `*.` wildcard.
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn tls(s: &Settings, out: &mut Vec<Found>) {
    let t = &s.tls;
    if t.san.is_empty() {
        out.push(problem(
            "tls.san",
            "the server certificate needs at least one name",
            "list the host names and addresses clients use, e.g. [\"localhost\", \"127.0.0.1\", \"::1\"]",
        ));
    }
    for name in &t.san {
        if name.parse::<std::net::IpAddr>().is_err() && !valid_dns_name(name) {
            out.push(problem(
                "tls.san",
                format!("{name:?} is neither an IP address nor a valid DNS name"),
                "use names like \"api.example.com\" or addresses like \"192.0.2.10\"",
            ));
        }
    }
    if !matches!(t.policy.as_str(), "intermediate" | "modern") {
        out.push(problem(
            "tls.policy",
            format!("{:?} is not a TLS policy", t.policy),
            "use \"intermediate\" (TLS 1.2 and 1.3) or \"modern\" (TLS 1.3 only)",
        ));
    }
    if !matches!(t.key_type.as_str(), "ecdsa-p256" | "rsa-3072") {
        out.push(problem(
            "tls.key_type",
            format!("{:?} is not a supported key type", t.key_type),
            "use \"ecdsa-p256\" (default) or \"rsa-3072\"",
        ));
    }
    range(
        out,
        "tls.validity_days",
        t.validity_days,
        31,
        397,
        "certificates renew 30 days before expiry; browsers accept at most 397 days",
    );
}

fn services(s: &Settings, out: &mut Vec<Found>) {
    let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
    for (name, svc) in s.services.iter() {
        let key = format!("services.{name}.port");
        if svc.port == 0 {
            out.push(problem(
                key,
                "port 0 is not a port a service can listen on",
                "use a port from 1 to 65535",
            ));
            continue;
        }
        if let Some(other) = seen.get(&svc.port) {
            out.push(problem(
                key,
                format!("port {} is also used by services.{other}", svc.port),
                "give every service its own port",
            ));
        } else {
            seen.insert(svc.port, name);
        }
    }
    for (name, svc, what) in [
        ("postgres", s.services.postgres, "PostgreSQL"),
        ("redis", s.services.redis, "Redis"),
    ] {
        if svc.exposure == Exposure::Public {
            out.push(problem(
                format!("services.{name}.exposure"),
                format!("{what} must never be reachable from the network"),
                "set exposure = \"loopback\"; remote services reach it through Cryptobot's API",
            ));
        }
    }
}

/// Splits `scheme://authority/rest` and reports whether the authority
/// carries a password (`user:password@`) or the query a `password=`.
fn url_has_password(url: &str) -> bool {
    let after_scheme = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    let userinfo_has_password = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let query_has_password = after_scheme.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv.to_ascii_lowercase().starts_with("password="))
    });
    userinfo_has_password || query_has_password
}

fn database(s: &Settings, out: &mut Vec<Found>) {
    if let Some(url) = &s.database.url {
        if url_has_password(url) {
            out.push(problem(
                "database.url",
                "the URL contains a password; secrets never belong in cryptobot.toml",
                "remove the password from the URL; Cryptobot reads it from config/secrets/postgres_password",
            ));
        } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            out.push(problem(
                "database.url",
                "not a PostgreSQL URL",
                "write it as postgresql://cryptobot@127.0.0.1:5432/cryptobot, or remove it to use the embedded SQLite database",
            ));
        }
    }
    if s.database.sqlite_path.as_os_str().is_empty() {
        out.push(problem(
            "database.sqlite_path",
            "empty path",
            "use data/cryptobot.db (the default)",
        ));
    }
    for (key, value) in [
        ("database.name", &s.database.name),
        ("database.user", &s.database.user),
    ] {
        if !is_identifier(value) {
            out.push(problem(
                key,
                "not a plain PostgreSQL name",
                "use lower-case letters, digits and _ (starting with a letter), at most 63 characters",
            ));
        }
    }
}

fn redis(s: &Settings, out: &mut Vec<Found>) {
    if let Some(url) = &s.redis.url {
        if url_has_password(url) {
            out.push(problem(
                "redis.url",
                "the URL contains a password; secrets never belong in cryptobot.toml",
                "remove the password from the URL; Cryptobot reads it from config/secrets/redis_password",
            ));
        } else if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            out.push(problem(
                "redis.url",
                "not a Redis URL",
                "write it as redis://127.0.0.1:6379 (or rediss:// for TLS), or remove it to keep state in-process",
            ));
        } else if url.contains('#') {
            out.push(problem(
                "redis.url",
                "the URL has a #fragment; #insecure would turn off certificate verification, which Cryptobot never does",
                "remove the #... part; to trust a private CA, set redis.ca_file to its PEM file",
            ));
        }
    }
    let tls = s
        .redis
        .url
        .as_deref()
        .is_some_and(|u| u.starts_with("rediss://"));
    for (key, name, path, empty_fix) in [
        (
            "redis.ca_file",
            "ca_file",
            &s.redis.ca_file,
            "name the CA's PEM file, or remove the key to use the system's root certificates",
        ),
        (
            "redis.client_cert",
            "client_cert",
            &s.redis.client_cert,
            "name the client certificate's PEM file, or remove the key",
        ),
        (
            "redis.client_key",
            "client_key",
            &s.redis.client_key,
            "name the client key's PEM file, or remove the key",
        ),
    ] {
        let Some(path) = path else { continue };
        if path.as_os_str().is_empty() {
            out.push(problem(key, "empty path", empty_fix));
        } else if !tls {
            out.push(problem(
                key,
                format!(
                    "{name} needs a rediss:// URL (it is used only for TLS connections to Redis)"
                ),
                format!("write redis.url as rediss://HOST:PORT, or remove redis.{name}"),
            ));
        }
    }
    match (&s.redis.client_cert, &s.redis.client_key) {
        (Some(_), None) | (None, Some(_)) => {
            let missing = if s.redis.client_key.is_none() {
                "redis.client_key"
            } else {
                "redis.client_cert"
            };
            out.push(problem(
                missing,
                "redis.client_cert and redis.client_key go together (mutual TLS needs the certificate and its key)",
                "set both, or neither",
            ));
        }
        _ => {}
    }
    if !is_identifier(&s.redis.user) {
        out.push(problem(
            "redis.user",
            "not a plain ACL user name",
            "use lower-case letters, digits and _, e.g. cryptobot",
        ));
    }
    if !s.redis.server_dir.is_absolute() {
        out.push(problem(
            "redis.server_dir",
            "must be an absolute path",
            "use /var/lib/redis (the default)",
        ));
    }
    range(
        out,
        "redis.timeout_ms",
        s.redis.timeout_ms,
        10,
        5_000,
        "a hung Redis must not stall requests; 250 is the default",
    );
}

/// Checks one CORS origin: `https://host[:port]`, or `http://` on loopback.
fn origin_problem(origin: &str) -> Option<(String, String)> {
    if origin.trim() == "*" {
        return Some((
            "the origin \"*\" lets every website call the API with a user's credentials".into(),
            "list the exact origins of your web console, e.g. cors_origins = [\"https://localhost:3000\"]".into(),
        ));
    }
    let fix_form =
        "write each origin as https://HOST or https://HOST:PORT, without a path".to_string();
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Some(("not an origin (scheme://host[:port])".into(), fix_form));
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', ' ', '@']) {
        return Some((
            "an origin is only scheme://host[:port]: no path, wildcard, user or spaces".into(),
            fix_form,
        ));
    }
    let host = if let Some(end) = rest.strip_prefix('[').and_then(|r| r.find(']')) {
        &rest[..end + 2]
    } else {
        rest.split(':').next().unwrap_or(rest)
    };
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => None,
        "http" if loopback => None,
        "http" => Some((
            "a plain-http origin off this machine would send credentials unencrypted".into(),
            "serve the web console over https and list its https:// origin".into(),
        )),
        _ => Some((
            "origin scheme must be https (or http on localhost)".into(),
            fix_form,
        )),
    }
}

fn server(s: &Settings, out: &mut Vec<Found>) {
    let csp = &s.server.content_security_policy;
    if csp.is_empty() || csp.len() > 2048 || !csp.chars().all(|c| c == ' ' || c.is_ascii_graphic())
    {
        out.push(problem(
            "server.content_security_policy",
            "the policy must be 1-2048 printable ASCII characters on one line",
            format!("use the API default: \"{}\"", crate::model::API_CSP),
        ));
    } else if !csp
        .split(';')
        .any(|d| d.trim_start().starts_with("frame-ancestors"))
    {
        out.push(problem(
            "server.content_security_policy",
            "the policy has no frame-ancestors directive, so the pages could be framed (clickjacking)",
            "add \"frame-ancestors 'none'\" (or 'self' for a console that frames itself)",
        ));
    }
    if s.server.bind.port() == 0 {
        out.push(problem(
            "server.bind",
            "port 0 is not a port the service can be reached on",
            "use a fixed port, e.g. \"127.0.0.1:8000\"",
        ));
    }
    for (key, path) in [
        ("server.tls_cert", &s.server.tls_cert),
        ("server.tls_key", &s.server.tls_key),
    ] {
        if path.as_os_str().is_empty() {
            out.push(problem(
                key,
                "empty path",
                "remove the key to use the default under config/tls/",
            ));
        }
    }
    for (i, origin) in s.server.cors_origins.iter().enumerate() {
        if let Some((message, fix)) = origin_problem(origin) {
            out.push(problem(format!("server.cors_origins[{i}]"), message, fix));
        }
    }
    for (i, proxy) in s.server.trusted_proxies.iter().enumerate() {
        if let Err(why) = proxy.parse::<crate::IpNet>() {
            out.push(problem(
                format!("server.trusted_proxies[{i}]"),
                why,
                "list proxy addresses or blocks, e.g. trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]",
            ));
        }
    }
    range(
        out,
        "server.max_body_bytes",
        s.server.max_body_bytes,
        1024,
        10 * 1024 * 1024,
        "1 KiB to 10 MiB",
    );
    range(
        out,
        "server.request_timeout_seconds",
        s.server.request_timeout_seconds,
        1,
        300,
        "slow requests hold resources",
    );
    connections(s, out);
}

/// The connection limits of `cryptobot serve`: every one bounded, none off.
fn connections(s: &Settings, out: &mut Vec<Found>) {
    let v = &s.server;
    range(
        out,
        "server.max_connections",
        v.max_connections,
        16,
        1_000_000,
        "each connection holds a file descriptor and memory",
    );
    range(
        out,
        "server.max_connections_per_address",
        v.max_connections_per_address,
        1,
        1_000_000,
        "one client must not take every connection",
    );
    // Only when the total itself is sane, or one mistake reads as two.
    if (16..=1_000_000).contains(&v.max_connections)
        && v.max_connections_per_address > v.max_connections
    {
        out.push(problem(
            "server.max_connections_per_address",
            format!(
                "{} is more than server.max_connections ({}), so one address could take every connection",
                v.max_connections_per_address, v.max_connections
            ),
            "use a value at most server.max_connections, e.g. 256",
        ));
    }
    range(
        out,
        "server.tls_handshake_timeout_seconds",
        v.tls_handshake_timeout_seconds,
        1,
        60,
        "unfinished handshakes hold connections",
    );
    range(
        out,
        "server.header_read_timeout_seconds",
        v.header_read_timeout_seconds,
        1,
        120,
        "slow request heads hold connections",
    );
    range(
        out,
        "server.idle_timeout_seconds",
        v.idle_timeout_seconds,
        1,
        3600,
        "idle connections hold file descriptors",
    );
    range(
        out,
        "server.max_header_bytes",
        v.max_header_bytes,
        8192,
        1024 * 1024,
        "8 KiB to 1 MiB; the HTTP parser needs 8 KiB",
    );
}

fn range(out: &mut Vec<Found>, key: &str, value: u32, min: u32, max: u32, why: &str) {
    if value < min || value > max {
        out.push(problem(
            key,
            format!("{value} is outside the allowed range {min}..={max} ({why})"),
            format!("use a value from {min} to {max}"),
        ));
    }
}

fn security(s: &Settings, out: &mut Vec<Found>) {
    let p = &s.security.password_policy;
    if p.min_length < 8 {
        out.push(problem(
            "security.password_policy.min_length",
            format!(
                "{} is unsafe: passwords shorter than 8 characters are guessed quickly",
                p.min_length
            ),
            "use 12 (the default) or more",
        ));
    } else {
        range(
            out,
            "security.password_policy.min_length",
            p.min_length,
            8,
            128,
            "longer minimums lock everyone out",
        );
    }
    if p.max_age_days != 0 {
        range(
            out,
            "security.password_policy.max_age_days",
            p.max_age_days,
            1,
            3650,
            "0 disables expiry",
        );
    }
    range(
        out,
        "security.password_policy.prevent_reuse",
        p.prevent_reuse,
        0,
        24,
        "password history length",
    );

    let ss = &s.security.session;
    range(
        out,
        "security.session.access_token_seconds",
        ss.access_token_seconds,
        60,
        3600,
        "the guide asks for short-lived tokens",
    );
    range(
        out,
        "security.session.idle_timeout_seconds",
        ss.idle_timeout_seconds,
        60,
        86_400,
        "idle sessions must end",
    );
    range(
        out,
        "security.session.max_sessions_per_user",
        ss.max_sessions_per_user,
        1,
        100,
        "sessions per user",
    );
    range(
        out,
        "security.session.refresh_expiry_seconds",
        ss.refresh_expiry_seconds,
        300,
        30 * 86_400,
        "at most 30 days",
    );
    if ss.expiry_seconds < ss.access_token_seconds {
        out.push(problem(
            "security.session.expiry_seconds",
            "a session would end before its first access token expires",
            "make expiry_seconds at least access_token_seconds",
        ));
    }
    if ss.refresh_expiry_seconds < ss.expiry_seconds {
        out.push(problem(
            "security.session.refresh_expiry_seconds",
            "the absolute session lifetime is shorter than the session expiry",
            "make refresh_expiry_seconds at least expiry_seconds",
        ));
    }

    let r = &s.security.rate_limiting;
    range(
        out,
        "security.rate_limiting.login_attempts_per_minute",
        r.login_attempts_per_minute,
        1,
        60,
        "more makes password guessing practical",
    );
    range(
        out,
        "security.rate_limiting.account_failures_per_hour",
        r.account_failures_per_hour,
        5,
        1000,
        "an account-wide lock needs more failures than a typing error makes",
    );
    if r.address_group_failures_per_hour < 1
        || r.address_group_failures_per_hour > r.account_failures_per_hour
    {
        out.push(problem(
            "security.rate_limiting.address_group_failures_per_hour",
            format!(
                "{} must be from 1 to account_failures_per_hour ({})",
                r.address_group_failures_per_hour, r.account_failures_per_hour
            ),
            "use 5 (the default): one address group locks before the whole account does",
        ));
    }
    let ladder = &r.lock_minutes;
    if ladder.is_empty()
        || ladder.len() > 10
        || ladder.iter().any(|m| *m == 0 || *m > 1440)
        || ladder.windows(2).any(|w| w[1] < w[0])
    {
        out.push(problem(
            "security.rate_limiting.lock_minutes",
            "locks must be 1 to 10 lengths of 1 to 1440 minutes, each at least the one before",
            "use [5, 15, 60] (the default)",
        ));
    }
    range(
        out,
        "security.rate_limiting.login_free_failures",
        r.login_free_failures,
        0,
        20,
        "a few typos, not a guessing budget",
    );
    range(
        out,
        "security.rate_limiting.login_delay_base_seconds",
        r.login_delay_base_seconds,
        1,
        60,
        "the first delay",
    );
    if r.login_delay_base_seconds > r.login_delay_max_seconds {
        out.push(problem(
            "security.rate_limiting.login_delay_base_seconds",
            "the first delay is longer than the ceiling",
            "make login_delay_base_seconds at most login_delay_max_seconds",
        ));
    }
    range(
        out,
        "security.rate_limiting.login_delay_max_seconds",
        r.login_delay_max_seconds,
        1,
        3600,
        "at most an hour",
    );
    range(
        out,
        "security.rate_limiting.api_requests_per_minute",
        r.api_requests_per_minute,
        1,
        1_000_000,
        "requests per minute",
    );
    range(
        out,
        "security.rate_limiting.burst",
        r.burst,
        1,
        10_000,
        "calls allowed at once",
    );
    range(
        out,
        "security.rate_limiting.login_burst",
        r.login_burst,
        1,
        100,
        "sign-in attempts allowed at once per address and per account; 5 is the default",
    );
    range(
        out,
        "security.rate_limiting.api_key_requests_per_minute",
        r.api_key_requests_per_minute,
        1,
        1_000_000,
        "requests per minute",
    );

    let m = &s.security.mfa;
    for (i, role) in m.required_for_roles.iter().enumerate() {
        if !matches!(role.as_str(), "admin" | "trader" | "viewer" | "auditor") {
            out.push(problem(
                format!("security.mfa.required_for_roles[{i}]"),
                "not a role",
                "use admin, trader, viewer or auditor",
            ));
        }
    }
    range(
        out,
        "security.mfa.step_up_seconds",
        m.step_up_seconds,
        30,
        3600,
        "a step-up counts for 30 seconds to one hour",
    );
    if m.totp_issuer.trim().is_empty()
        || m.totp_issuer.len() > 64
        || m.totp_issuer.contains(':')
        || m.totp_issuer.chars().any(char::is_control)
    {
        out.push(problem(
            "security.mfa.totp_issuer",
            "the issuer shown in authenticator apps must be 1-64 printable characters without ':'",
            "use a short name such as \"Cryptobot\"",
        ));
    }

    let k = &s.security.api_keys;
    range(
        out,
        "security.api_keys.rotation_days",
        k.rotation_days,
        1,
        365,
        "keys must be rotated at least yearly",
    );
    range(
        out,
        "security.api_keys.max_keys_per_user",
        k.max_keys_per_user,
        1,
        100,
        "keys per user",
    );
    range(
        out,
        "security.api_keys.rotation_grace_hours",
        k.rotation_grace_hours,
        0,
        720,
        "the grace period is at most 30 days",
    );
    range(
        out,
        "security.api_keys.usage_spike_factor",
        k.usage_spike_factor,
        2,
        1000,
        "a spike is at least twice the usual hourly use",
    );
    range(
        out,
        "security.api_keys.withdraw_step_up_seconds",
        k.withdraw_step_up_seconds,
        30,
        3600,
        "a withdrawal needs a second factor from the last 30 seconds to one hour",
    );
    range(
        out,
        "security.api_keys.withdraw_address_delay_hours",
        k.withdraw_address_delay_hours,
        1,
        720,
        "a new withdrawal address waits between 1 hour and 30 days",
    );
    range(
        out,
        "security.api_keys.max_lifetime_days",
        k.max_lifetime_days,
        1,
        3650,
        "a service API key lives at most ten years",
    );
    range(
        out,
        "security.api_keys.max_signatures_per_minute",
        k.max_signatures_per_minute,
        1,
        1_000_000,
        "the signing limit is 1 to 1,000,000 per minute",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(validate(&Settings::default()), Vec::<Found>::new());
    }

    #[test]
    fn extra_paths_are_checked() {
        let mut s = Settings::default();
        s.vault.extra_paths.push(crate::model::ExtraPath {
            key: "xk_0123abcd".into(),
            method: "GET".into(),
            path: "/api/v3/myPreventedMatches".into(),
            class: "read".into(),
            params: Some(vec!["symbol".into()]),
        });
        assert_eq!(validate(&s), Vec::<Found>::new());
        for (field, bad) in [
            ("class", "admin"),
            ("method", "PATCH"),
            ("key", "abc"),
            ("path", "/api/v3/../x"),
            ("path", "/api//x"),
            ("path", "/api/x?y=1"),
            ("path", "/api/x/"),
            ("path", "%2Fapi"),
        ] {
            let mut t = s.clone();
            let x = &mut t.vault.extra_paths[0];
            match field {
                "class" => x.class = bad.into(),
                "method" => x.method = bad.into(),
                "key" => x.key = bad.into(),
                _ => x.path = bad.into(),
            }
            let found = validate(&t);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert_eq!(found[0].0, format!("vault.extra_paths[0].{field}"));
            assert!(!found[0].1.contains(bad), "the value is not repeated");
        }
        let mut t = Settings::default();
        t.security.api_keys.withdraw_step_up_seconds = 0;
        assert_eq!(
            validate(&t).first().map(|f| f.0.as_str()),
            Some("security.api_keys.withdraw_step_up_seconds")
        );
    }

    #[test]
    fn url_passwords_are_detected() {
        assert!(url_has_password("postgresql://u:p@h/db"));
        assert!(url_has_password("postgresql://h/db?user=u&password=p"));
        assert!(url_has_password("redis://:p@127.0.0.1:6379"));
        assert!(!url_has_password(
            "postgresql://cryptobot@127.0.0.1:5432/cryptobot"
        ));
        assert!(!url_has_password("postgresql://[::1]:5432/db"));
    }

    #[test]
    fn origins() {
        assert!(origin_problem("https://localhost:3000").is_none());
        assert!(origin_problem("https://bot.example.com").is_none());
        assert!(origin_problem("http://127.0.0.1:3000").is_none());
        assert!(origin_problem("http://[::1]:3000").is_none());
        for bad in [
            "*",
            "null",
            "https://a.com/x",
            "http://bot.example.com",
            "ftp://x",
            "https://*.a.com",
            "https://",
        ] {
            assert!(origin_problem(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("cryptobot"));
        assert!(is_identifier("_a1"));
        for bad in ["", "1a", "A", "a-b", "a;drop", "a b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
