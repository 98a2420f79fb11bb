//! What the schemathesis run (`tests/schemathesis`) and the soak
//! (`tests/soak`) found, one regression test each, named after the finding:
//! the server and its OpenAPI document must agree on every answer.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

fn doc() -> &'static Value {
    cryptobot_server::openapi::openapi_value()
}

fn documents(path: &str, method: &str, status: &str) -> bool {
    doc()["paths"][path][method]["responses"]
        .get(status)
        .is_some()
}

fn assert_problem(st: u16, body: &[u8], want: u16, field: Option<&str>) {
    assert_eq!(st, want, "{}", String::from_utf8_lossy(body));
    let p = json(body);
    assert_eq!(p["status"], want);
    if let Some(f) = field {
        assert_eq!(p["field"], f, "{p}");
    }
}

/// An admin with a service API key of every admin scope (the harness runs
/// without the MFA policy for admins and for key creation).
async fn admin_and_key(s: &TestServer, c: &reqwest::Client) -> (String, String) {
    s.add_user("ada", "admin").await;
    let t = access(&login(s, c, "ada").await);
    let (st, _, body) = post(
        c,
        &s.url("/api/v1/api-keys"),
        Some(&t),
        &json!({"name": "contract", "scopes": ["account:self", "users:read", "audit:read", "keys:read"]}),
    )
    .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    (t, json(&body)["key"].as_str().unwrap().to_string())
}

async fn start() -> TestServer {
    TestServer::start(Db::Sqlite, |st| {
        st.security.mfa.required_for_api_key_creation = false;
    })
    .await
}

/// Found: `include_revoked` of `GET /api/v1/exchange-keys` was described as
/// a required *path* parameter (the path has no such placeholder), so
/// clients generated from the document could not call it.
#[test]
fn exchange_keys_list_include_revoked_was_documented_as_a_path_parameter() {
    let params = &doc()["paths"]["/api/v1/exchange-keys"]["get"]["parameters"];
    let p = params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "include_revoked")
        .unwrap();
    assert_eq!(p["in"], "query");
    assert_eq!(p["required"], false);
    // And no operation has a path parameter its path does not hold.
    for (path, item) in doc()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: path parameter `{name}` is not in the path"
                    );
                }
            }
        }
    }
}

/// Found: an unknown or malformed query parameter of
/// `GET /api/v1/exchange-keys` was answered 422 (axum's rejection turned
/// into a generic problem) although the operation documented no 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_keys_list_bad_query_was_an_undocumented_422() {
    let s = start().await;
    s.add_user("tom", "trader").await;
    let c = s.client();
    let t = access(&login(&s, &c, "tom").await);
    let (st, _, body) = get(&c, &s.url("/api/v1/exchange-keys?=false"), Some(&t)).await;
    assert_problem(st, &body, 422, None);
    let (st, _, body) = get(&c, &s.url("/api/v1/exchange-keys?color=red"), Some(&t)).await;
    assert_problem(st, &body, 422, Some("color"));
    let (st, _, body) = get(
        &c,
        &s.url("/api/v1/exchange-keys?include_revoked=maybe"),
        Some(&t),
    )
    .await;
    assert_problem(st, &body, 422, None);
    assert!(!String::from_utf8_lossy(&body).contains("maybe"));
    let (st, _, _) = get(
        &c,
        &s.url("/api/v1/exchange-keys?include_revoked=true"),
        Some(&t),
    )
    .await;
    assert_eq!(st, 200);
    assert!(documents("/api/v1/exchange-keys", "get", "422"));
    s.stop().await;
}

/// Found: `GET /api/v1/audit?actor=` (and `?type=`) was accepted and
/// matched nothing; the filters are now at least one character, documented
/// as `minLength: 1` and refused with 422 naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filter_empty_actor_was_accepted() {
    let s = start().await;
    s.add_user("ada", "admin").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ada").await);
    for (query, field) in [("actor=", "actor"), ("type=", "type")] {
        let (st, _, body) = get(&c, &s.url(&format!("/api/v1/audit?{query}")), Some(&t)).await;
        assert_problem(st, &body, 422, Some(field));
    }
    let (st, _, _) = get(
        &c,
        &s.url("/api/v1/audit?actor=ada&type=login_succeeded"),
        Some(&t),
    )
    .await;
    assert_eq!(st, 200);
    let params = doc()["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for name in ["actor", "type"] {
        let p = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["schema"]["minLength"], 1, "{name}");
    }
    s.stop().await;
}

/// Found: `GET /api/v1/api-keys?user=&all=true` was accepted: the empty
/// `user` (documented `minLength: 1`) was checked only when `all` was not
/// set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_list_empty_user_with_all_was_accepted() {
    let s = start().await;
    s.add_user("ada", "admin").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ada").await);
    let (st, _, body) = get(&c, &s.url("/api/v1/api-keys?user=&all=true"), Some(&t)).await;
    assert_problem(st, &body, 422, Some("user"));
    let (st, _, _) = get(&c, &s.url("/api/v1/api-keys?all=true"), Some(&t)).await;
    assert_eq!(st, 200);
    s.stop().await;
}

/// Found: the endpoints that need a signed-in session (logout, password,
/// step-up, MFA) answer a service API key with 403, which their
/// description did not list. Every operation is called here with a valid
/// admin service key (and an empty body where one is taken); the answer
/// must be one the operation documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_only_endpoints_answered_service_keys_with_an_undocumented_403() {
    let s = start().await;
    let c = s.client();
    let (_, key) = admin_and_key(&s, &c).await;
    let mut session_only = 0;
    for (path, item) in doc()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let concrete = path.replace("{username}", "nobody").replace("{id}", "x");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut r = c
                .request(m, s.url(&concrete))
                .header("authorization", format!("ApiKey {key}"));
            if op.get("requestBody").is_some() {
                r = r.json(&json!({}));
            }
            let resp = r.send().await.unwrap();
            let st = resp.status().as_u16();
            let body = resp.bytes().await.unwrap();
            assert!(
                documents(path, method, &st.to_string()),
                "{method} {path} answered a service key {st}, which it does not document: {}",
                String::from_utf8_lossy(&body)
            );
            if st == 403 && String::from_utf8_lossy(&body).contains("needs a signed-in session") {
                session_only += 1;
            }
        }
    }
    // logout, password, step-up, the five MFA operations, sessions, and
    // creating or rotating API keys
    assert!(
        session_only >= 10,
        "only {session_only} session-only answers"
    );
    s.stop().await;
}

/// Added after review of the fuzzing run: every request passes the
/// timeout and the call limits, and any of them can meet the database or
/// Redis away, so every operation documents 408, 429 (with `Retry-After`)
/// and 503 (with `Retry-After`) as problem+json.
#[test]
fn every_operation_documents_timeouts_limits_and_outages() {
    let mut ops = 0;
    for (path, item) in doc()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            for status in ["408", "429", "503"] {
                let r = &op["responses"][status];
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}: {r}"
                );
                if status != "408" {
                    assert!(
                        r["headers"]["Retry-After"].is_object(),
                        "{method} {path} {status}: {r}"
                    );
                }
            }
        }
    }
    assert!(ops >= 32, "{ops}");
}

/// Found by the soak: a request that met PostgreSQL restarting was answered
/// 500 `internal` (and logged as an error); a database that cannot be
/// reached is now 503 `busy` with `Retry-After`, like Redis away.
#[test]
fn database_outage_was_a_500() {
    use axum::response::IntoResponse;
    let away = cryptobot_store::StoreError::Connect {
        backend: "PostgreSQL",
        message: "connection refused".into(),
    };
    let resp = cryptobot_server::problem::ApiError::from(away).into_response();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let broken = cryptobot_store::StoreError::Corrupt("details".into());
    let resp = cryptobot_server::problem::ApiError::from(broken).into_response();
    assert_eq!(resp.status(), 500);
}

/// Found: `GET /api/v1/approvals?all=0` (and the address book's `?all=`)
/// was answered 422 although the operations documented no 422; the bad
/// query is now the documented 422 naming nothing it was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_bad_query_was_an_undocumented_422() {
    let s = start().await;
    s.add_user("ada", "admin").await;
    let c = s.client();
    let t = access(&login(&s, &c, "ada").await);
    let (st, _, body) = get(&c, &s.url("/api/v1/approvals?all=0"), Some(&t)).await;
    assert_problem(st, &body, 422, None);
    let (st, _, body) = get(&c, &s.url("/api/v1/approvals?all=true"), Some(&t)).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (st, _, body) = get(
        &c,
        &s.url("/api/v1/exchange-keys/xk_0000000000000000/addresses?all=yes"),
        Some(&t),
    )
    .await;
    assert_problem(st, &body, 422, None);
    assert!(documents("/api/v1/approvals", "get", "422"));
    assert!(documents(
        "/api/v1/exchange-keys/{id}/addresses",
        "get",
        "422"
    ));
    s.stop().await;
}
