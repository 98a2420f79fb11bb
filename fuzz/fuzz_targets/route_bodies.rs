//! Every JSON request body of the HTTP API, read as the routes read them
//! (`extract::parse_body`: serde into the route's type, then its
//! `Validate` rules), and the query strings of the list endpoints.
//!
//! Input: the first byte picks the type, the rest is the body (or query).
//!
//! Oracles: no panic; a refused body is a 4xx problem (never 5xx) whose
//! JSON renders; the problem never repeats a secret field's value.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use cryptobot_server::extract::{Validate, parse_body};
use cryptobot_server::routes::{api_keys, audit, auth, exchange_keys, mfa, sessions, users};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// Fields whose values are secrets: never repeated in a problem.
const SECRET_FIELDS: [&str; 10] = [
    "password",
    "token",
    "current_password",
    "new_password",
    "refresh_token",
    "mfa_token",
    "code",
    "api_key",
    "secret",
    "passphrase",
];

/// Secret values long and distinctive enough that finding one in a
/// problem cannot be a coincidence with the fixed texts.
fn secrets(body: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    SECRET_FIELDS
        .iter()
        .filter_map(|f| map.get(*f)?.as_str())
        // A problem names an unknown field as sent (on purpose): a value
        // that is also part of a key may be shown as that key.
        .filter(|v| !map.keys().any(|k| k.contains(*v)))
        .filter(|v| {
            v.len() >= 12
                && v.chars().all(|c| c.is_ascii_alphanumeric())
                && v.chars().any(|c| c.is_ascii_digit())
                && v.chars().any(|c| c.is_ascii_alphabetic())
        })
        .map(str::to_owned)
        .collect()
}

fn body<T: DeserializeOwned + Validate>(bytes: &[u8]) {
    let Err(problem) = parse_body::<T>(bytes) else {
        return;
    };
    let status = problem.kind().status();
    assert!(
        status.is_client_error(),
        "a body was answered with {status}"
    );
    let shown = match serde_json::to_string(&problem.body()) {
        Ok(s) => s,
        Err(e) => panic!("a problem does not render: {e}"),
    };
    for secret in secrets(bytes) {
        assert!(!shown.contains(&secret), "a problem repeats a secret value");
    }
}

fn query<T: DeserializeOwned>(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(uri) = format!("/x?{text}").parse::<Uri>() else {
        return;
    };
    if let Err(rejection) = Query::<T>::try_from_uri(&uri) {
        let _ = rejection.body_text();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 18 {
        0 => body::<auth::LoginRequest>(rest),
        1 => body::<auth::RefreshRequest>(rest),
        2 => body::<auth::PasswordChangeRequest>(rest),
        3 => body::<auth::MfaLoginRequest>(rest),
        4 => body::<mfa::CodeRequest>(rest),
        5 => body::<mfa::DisableRequest>(rest),
        6 => body::<users::RoleRequest>(rest),
        7 => body::<api_keys::CreateKeyRequest>(rest),
        8 => body::<exchange_keys::AddKeyRequest>(rest),
        9 => body::<exchange_keys::RotateKeyRequest>(rest),
        10 => body::<exchange_keys::SignBody>(rest),
        11 => query::<audit::AuditParams>(rest),
        12 => query::<api_keys::ListParams>(rest),
        13 => query::<api_keys::RotateParams>(rest),
        14 => query::<exchange_keys::ListQuery>(rest),
        15 => body::<auth::PasswordResetRequest>(rest),
        16 => body::<sessions::ReauthRequest>(rest),
        17 => body::<mfa::EnrollRequest>(rest),
        _ => {}
    }
});
