//! Properties of the signing-request normaliser: `check_path` accepts
//! exactly the canonical grammar, method normalisation is idempotent,
//! parameter names read back what a request was built from, and
//! permissions render and parse back. (The whole policy is fuzzed by
//! `fuzz/fuzz_targets/sign_policy.rs`.)

use cryptobot_vault::policy::{Permissions, check_path, normalize_method, parameter_names};
use cryptobot_vault::{Exchange, SignRequest};
use proptest::prelude::*;

/// The canonical grammar, written independently of `check_path`:
/// `/seg(/seg)*`, each segment of `A-Z a-z 0-9 - _ ~ .` but not `.` or
/// `..`, at most 256 bytes.
fn canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    path.len() <= 256
        && !rest.is_empty()
        && rest.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        })
}

/// Paths near the canonical grammar, with the characters that matter.
fn near_paths() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/[a-zA-Z0-9._~-]{1,8}){1,5}",
        "[/a.~%?#; A\\\\\t\n\u{7f}\u{e4}\u{2028}-]{0,14}",
        "(/(\\.|\\.\\.|[a-z]{0,3})){0,5}/?",
        "/[a-z]{250,260}",
    ]
}

/// Plain parameter names (what `parameter_names` accepts).
fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[A-Za-z0-9_.\\[\\]-]{1,16}", 0..8)
        .prop_map(|s| s.into_iter().collect())
}

proptest! {
    #[test]
    fn check_path_accepts_exactly_the_canonical_grammar(path in near_paths()) {
        prop_assert_eq!(check_path(&path).is_ok(), canonical(&path), "{:?}", path);
    }

    #[test]
    fn check_path_on_any_text_never_accepts_a_non_canonical_path(path in any::<String>()) {
        prop_assert_eq!(check_path(&path).is_ok(), canonical(&path), "{:?}", path);
    }

    #[test]
    fn normalize_method_is_idempotent(method in "(?i)(get|post|put|delete|patch|[a-z]{0,7})[ \t]?") {
        if let Ok(m) = normalize_method(&method) {
            prop_assert_eq!(normalize_method(&m), Ok(m.clone()));
            prop_assert!(["GET", "POST", "PUT", "DELETE"].contains(&m.as_str()));
            prop_assert!(m.eq_ignore_ascii_case(&method));
        }
    }

    #[test]
    fn form_parameters_read_back(names in names(), values in proptest::collection::vec("[A-Za-z0-9=.:_-]{0,8}", 8)) {
        let form: Vec<String> = names.iter().zip(&values).map(|(n, v)| format!("{n}={v}")).collect();
        let form = form.join("&");
        let req = SignRequest {
            method: "GET".into(),
            path: "/api/v3/account".into(),
            query: Some(form),
            ..SignRequest::default()
        };
        for exchange in [Exchange::Binance, Exchange::Kraken, Exchange::Okx] {
            prop_assert_eq!(parameter_names(exchange, &req), Ok(names.clone()));
        }
    }

    #[test]
    fn json_body_keys_read_back(names in names(), values in proptest::collection::vec(any::<i32>(), 8)) {
        let mut body = serde_json::Map::new();
        for (n, v) in names.iter().zip(&values) {
            body.insert(n.clone(), serde_json::Value::from(*v));
        }
        let body = serde_json::Value::Object(body).to_string();
        let mut sorted = names.clone();
        sorted.sort();
        let req = SignRequest {
            method: "POST".into(),
            path: "/v5/order/create".into(),
            body: Some(body),
            ..SignRequest::default()
        };
        for exchange in [Exchange::Bybit, Exchange::Okx, Exchange::Kucoin, Exchange::Coinbase] {
            let mut got = parameter_names(exchange, &req).map_err(|e| TestCaseError::fail(e.to_string()))?;
            got.sort();
            prop_assert_eq!(&got, &sorted);
        }
    }

    #[test]
    fn permissions_render_and_parse_back(bits in any::<[bool; 4]>()) {
        let p = Permissions { read: bits[0], trade: bits[1], withdraw: bits[2], account_admin: bits[3] };
        prop_assert_eq!(Permissions::from_names(p.names()), Ok(p));
        if p != Permissions::default() {
            prop_assert_eq!(Permissions::parse(&p.to_string()), Ok(p));
        }
    }
}
