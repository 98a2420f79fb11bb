//! The signing policy at the HTTP sign route, over real HTTPS, on SQLite
//! and PostgreSQL: for every exchange a `read,trade` key signs a documented
//! read and trade and is refused (403 `signing-refused`, audited) for
//! withdrawals and account administration; a withdrawal is signed only for
//! a `withdraw` key with `allow_withdraw_keys` and a fresh second factor;
//! smuggled parameters, non-canonical paths, control characters and a
//! nonce far ahead are refused; extra paths open exactly one request.
//!
//! The documented requests are copied from the vault's policy tests
//! (`crates/vault/tests/policy.rs`), each with the documentation page it
//! comes from.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::*;
use cryptobot_service::audit::Who;
use cryptobot_service::clock::{now, now_ms};
use cryptobot_service::exchange_keys::{Vault, VaultOpError};
use cryptobot_service::key_access::Access;
use cryptobot_store::{AuditQuery, AuditRecord};
use cryptobot_vault::policy;
use cryptobot_vault::{Exchange, SignRequest};
use serde_json::{Value, json};

on_both!(
    every_exchange_signs_reads_and_trades_and_refuses_the_rest,
    withdrawals_need_a_withdraw_key_the_setting_and_a_fresh_step_up,
    smuggled_non_canonical_and_stale_requests_are_refused,
);

const PROBLEM: &str = "urn:cryptobot:problem:signing-refused";
const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const KRAKEN_SECRET: &str =
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const OTHER_SECRET: &str = "test-secret-0123456789ABCDEFGHIJ";
const PASSPHRASE: &str = "test pass phrase";

/// One documented request: method, path, parameters, documentation page.
type Doc = (&'static str, &'static str, &'static str, &'static str);

struct Fixture {
    exchange: Exchange,
    read: Doc,
    trade: Doc,
    withdraws: &'static [Doc],
    admins: &'static [Doc],
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        exchange: Exchange::Binance,
        read: (
            "GET",
            "/api/v3/account",
            "omitZeroBalances=true",
            "Binance Spot API docs, \"Account Endpoints › Account information (USER_DATA)\"",
        ),
        trade: (
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000",
            "Binance Spot API docs, \"Trading Endpoints › New order (TRADE)\"",
        ),
        withdraws: &[
            (
                "POST",
                "/sapi/v1/capital/withdraw/apply",
                "coin=BTC&network=BTC&address=bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh&amount=0.1",
                "Binance Wallet docs, \"Capital › Withdraw (USER_DATA)\"",
            ),
            (
                "POST",
                "/sapi/v1/asset/transfer",
                "type=MAIN_UMFUTURE&asset=USDT&amount=10",
                "Binance Wallet docs, \"Asset › User Universal Transfer (USER_DATA)\"",
            ),
            (
                "POST",
                "/sapi/v1/sub-account/universalTransfer",
                "fromAccountType=SPOT&toAccountType=SPOT&toEmail=bot%40example.com&asset=USDT&amount=5",
                "Binance Sub Account docs, \"Asset Management › Universal Transfer\"",
            ),
            (
                "POST",
                "/sapi/v1/sub-account/transfer/subToMaster",
                "asset=USDT&amount=5",
                "Binance Sub Account docs, \"Asset Management › Transfer to Master\"",
            ),
        ],
        admins: &[
            (
                "POST",
                "/sapi/v1/sub-account/virtualSubAccount",
                "subAccountString=bot",
                "Binance Sub Account docs, \"Account Management › Create a Virtual Sub-account\"",
            ),
            (
                "POST",
                "/sapi/v1/account/enableFastWithdrawSwitch",
                "",
                "Binance Wallet docs, \"Account › Enable Fast Withdraw Switch (USER_DATA)\"",
            ),
            (
                "POST",
                "/sapi/v2/sub-account/subAccountApi/ipRestriction",
                "email=bot%40example.com&subAccountApiKey=k&status=2&ipAddress=10.0.0.1",
                "Binance Sub Account docs, \"API Management › Add IP Restriction for Sub-Account API key\"",
            ),
        ],
    },
    Fixture {
        exchange: Exchange::Kraken,
        read: (
            "POST",
            "/0/private/Balance",
            "",
            "Kraken Spot REST API, \"Account Data › Get Account Balance\"",
        ),
        trade: (
            "POST",
            "/0/private/AddOrder",
            "ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
            "Kraken Spot REST API, \"Trading › Add Order\"",
        ),
        withdraws: &[
            (
                "POST",
                "/0/private/Withdraw",
                "asset=XBT&key=cold-wallet&amount=0.5",
                "Kraken Spot REST API, \"Funding › Withdraw Funds\"",
            ),
            (
                "POST",
                "/0/private/WalletTransfer",
                "asset=XBT&from=Spot+Wallet&to=Futures+Wallet&amount=1",
                "Kraken Spot REST API, \"Funding › Request Wallet Transfer\"",
            ),
            (
                "POST",
                "/0/private/DepositAddresses",
                "asset=XBT&method=Bitcoin&new=true",
                "Kraken Spot REST API, \"Funding › Get Deposit Addresses\" (new=true)",
            ),
            (
                "POST",
                "/0/private/AccountTransfer",
                "asset=XBT&amount=1&from=M1&to=S1",
                "Kraken Spot REST API, \"Subaccounts › Account Transfer\"",
            ),
        ],
        // Kraken's REST API has one account-administration endpoint (no
        // API-key management): sub-account creation.
        admins: &[(
            "POST",
            "/0/private/CreateSubaccount",
            "username=bot2&email=bot%40example.com",
            "Kraken Spot REST API, \"Subaccounts › Create Subaccount\"",
        )],
    },
    Fixture {
        exchange: Exchange::Bybit,
        read: (
            "GET",
            "/v5/account/wallet-balance",
            "accountType=UNIFIED&coin=BTC",
            "Bybit V5 API docs, \"Account › Get Wallet Balance\"",
        ),
        trade: (
            "POST",
            "/v5/order/create",
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.1","price":"15600"}"#,
            "Bybit V5 API docs, \"Trade › Place Order\"",
        ),
        withdraws: &[
            (
                "POST",
                "/v5/asset/withdraw/create",
                r#"{"coin":"USDT","chain":"ETH","address":"0x99ced129603abc771c0dabe935c326ff6c86645d","amount":"24","timestamp":1765000000000,"forceChain":0,"accountType":"FUND"}"#,
                "Bybit V5 API docs, \"Asset › Withdraw\"",
            ),
            (
                "POST",
                "/v5/asset/transfer/inter-transfer",
                r#"{"transferId":"42c0cfb0-6bca-c242-bc76-4e6df6cbcb16","coin":"BTC","amount":"0.05","fromAccountType":"UNIFIED","toAccountType":"CONTRACT"}"#,
                "Bybit V5 API docs, \"Asset › Create Internal Transfer\"",
            ),
            (
                "POST",
                "/v5/asset/transfer/universal-transfer",
                r#"{"transferId":"be7a2462-1138-4e27-80b1-62653f24925e","coin":"ETH","amount":"0.5","fromMemberId":592334,"toMemberId":691355,"fromAccountType":"CONTRACT","toAccountType":"UNIFIED"}"#,
                "Bybit V5 API docs, \"Asset › Create Universal Transfer\"",
            ),
        ],
        admins: &[
            (
                "POST",
                "/v5/user/create-sub-member",
                r#"{"username":"xxxxx","memberType":1,"switch":1,"note":"test"}"#,
                "Bybit V5 API docs, \"User › Create Sub UID\"",
            ),
            (
                "POST",
                "/v5/user/update-api",
                r#"{"readOnly":0,"ips":"*","permissions":{"Wallet":["AccountTransfer","Withdraw"]}}"#,
                "Bybit V5 API docs, \"User › Modify Master API Key\"",
            ),
        ],
    },
    Fixture {
        exchange: Exchange::Okx,
        read: (
            "GET",
            "/api/v5/account/balance",
            "ccy=BTC",
            "OKX API v5 docs, \"Trading Account › GET / Account balance\"",
        ),
        trade: (
            "POST",
            "/api/v5/trade/order",
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"2.15","sz":"2"}"#,
            "OKX API v5 docs, \"Trade › POST / Place order\"",
        ),
        withdraws: &[
            (
                "POST",
                "/api/v5/asset/withdrawal",
                r#"{"amt":"1","dest":"4","ccy":"BTC","chain":"BTC-Bitcoin","toAddr":"17DKe3kkkkiiiiTvAKKi2vMPbm1Bz3CMKw"}"#,
                "OKX API v5 docs, \"Funding Account › POST / Withdrawal\"",
            ),
            (
                "POST",
                "/api/v5/asset/transfer",
                r#"{"ccy":"USDT","amt":"1.5","from":"6","to":"18"}"#,
                "OKX API v5 docs, \"Funding Account › POST / Funds transfer\"",
            ),
            (
                "POST",
                "/api/v5/asset/subaccount/transfer",
                r#"{"ccy":"USDT","amt":"1.5","from":"6","to":"6","fromSubAccount":"a","toSubAccount":"b"}"#,
                "OKX API v5 docs, \"Sub-account › POST / Master accounts manage the transfers between sub-accounts\"",
            ),
        ],
        admins: &[
            (
                "POST",
                "/api/v5/users/subaccount/create-subaccount",
                r#"{"subAcct":"bot1","type":"1","label":"bot"}"#,
                "OKX API v5 docs, \"Sub-account › POST / Create sub-account\"",
            ),
            (
                "POST",
                "/api/v5/users/subaccount/apikey",
                r#"{"subAcct":"bot1","label":"k","passphrase":"x","perm":"withdraw"}"#,
                "OKX API v5 docs, \"Sub-account › POST / Create an API Key for a sub-account\"",
            ),
        ],
    },
    Fixture {
        exchange: Exchange::Kucoin,
        read: (
            "GET",
            "/api/v1/accounts",
            "currency=BTC&type=trade",
            "KuCoin API docs, \"Account Info › Get Account List - Spot\"",
        ),
        trade: (
            "POST",
            "/api/v1/orders",
            r#"{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"BTC-USDT","type":"limit","price":"10000","size":"0.01"}"#,
            "KuCoin API docs, \"Spot Trading › Add Order (old version)\"",
        ),
        withdraws: &[
            (
                "POST",
                "/api/v1/withdrawals",
                r#"{"currency":"USDT","address":"TKFRQXSDcY4kd3QLzw7uK16GmLrjJggwX8","amount":"10","chain":"trx"}"#,
                "KuCoin API docs, \"Withdrawals › Withdraw (V1)\"",
            ),
            (
                "POST",
                "/api/v2/accounts/inner-transfer",
                r#"{"clientOid":"64ccc0f164781800010d8c09","currency":"USDT","from":"main","to":"trade","amount":"1"}"#,
                "KuCoin API docs, \"Transfer › Inner Transfer\"",
            ),
            (
                "POST",
                "/api/v1/deposit-addresses",
                r#"{"currency":"USDT","chain":"trx"}"#,
                "KuCoin API docs, \"Deposit › Add Deposit Address (V1)\"",
            ),
        ],
        admins: &[
            (
                "POST",
                "/api/v2/sub/user/created",
                r#"{"password":"p","subName":"bot1","access":"Spot"}"#,
                "KuCoin API docs, \"Sub Account › Add SubAccount\"",
            ),
            (
                "POST",
                "/api/v1/sub/api-key",
                r#"{"subName":"bot1","passphrase":"p","remark":"r","permission":"General,Trade"}"#,
                "KuCoin API docs, \"Sub Account › Add SubAccount API\"",
            ),
        ],
    },
    Fixture {
        exchange: Exchange::Coinbase,
        read: (
            "GET",
            "/api/v3/brokerage/accounts",
            "limit=49",
            "Coinbase Advanced Trade API, \"Accounts › List Accounts\"",
        ),
        trade: (
            "POST",
            "/api/v3/brokerage/orders",
            r#"{"client_order_id":"0000-00000-000000","product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"quote_size":"10"}}}"#,
            "Coinbase Advanced Trade API, \"Orders › Create Order\"",
        ),
        withdraws: &[
            (
                "POST",
                "/v2/accounts/2bbf394c-193b-5b2a-9155-3b4732659ede/transactions",
                r#"{"type":"send","to":"0x5b2a4732659ede2bbf394c193b9155a3b4732659","amount":"0.1","currency":"ETH","network":"ethereum"}"#,
                "Coinbase App API, \"Transactions › Send Money\"",
            ),
            (
                "POST",
                "/api/v3/brokerage/portfolios/move_funds",
                r#"{"funds":{"value":"10","currency":"USD"},"source_portfolio_uuid":"a","target_portfolio_uuid":"b"}"#,
                "Coinbase Advanced Trade API, \"Portfolios › Move Portfolio Funds\"",
            ),
            (
                "POST",
                "/v2/accounts/2bbf394c-193b-5b2a-9155-3b4732659ede/addresses",
                r#"{"name":"new"}"#,
                "Coinbase App API, \"Addresses › Create Address\"",
            ),
        ],
        admins: &[
            (
                "POST",
                "/api/v3/brokerage/portfolios",
                r#"{"name":"bot"}"#,
                "Coinbase Advanced Trade API, \"Portfolios › Create Portfolio\"",
            ),
            (
                "DELETE",
                "/api/v3/brokerage/portfolios/8f3e5b2a-0000-4000-8000-1234567890ab",
                "",
                "Coinbase Advanced Trade API, \"Portfolios › Delete Portfolio\"",
            ),
        ],
    },
];

/// The sign route's body for a request the way a strategy sends it for
/// `exchange` at `at` (the shapes of the vault's policy tests): Binance form
/// parameters (query for GET/DELETE, body otherwise) with `timestamp=`;
/// Kraken a form body with `nonce=`; the others the query of a GET/DELETE
/// or the JSON body of a POST/PUT, with `timestamp`.
fn body_at(exchange: Exchange, method: &str, path: &str, params: &str, at: i64) -> Value {
    body_of(&request_at(exchange, method, path, params, at))
}

/// The request [`body_at`] sends.
fn request_at(exchange: Exchange, method: &str, path: &str, params: &str, at: i64) -> SignRequest {
    let query_method = matches!(method, "GET" | "DELETE");
    let mut req = SignRequest {
        method: method.into(),
        path: path.into(),
        ..SignRequest::default()
    };
    let some = |s: String| (!s.is_empty()).then_some(s);
    match exchange {
        Exchange::Binance => {
            let all = if params.is_empty() {
                format!("timestamp={at}")
            } else {
                format!("{params}&timestamp={at}")
            };
            if query_method {
                req.query = Some(all);
            } else {
                req.body = Some(all);
            }
        }
        Exchange::Kraken => {
            req.nonce = Some(at.to_string());
            req.body = Some(if params.is_empty() {
                format!("nonce={at}")
            } else {
                format!("nonce={at}&{params}")
            });
        }
        _ => {
            req.timestamp = Some(at);
            if query_method {
                req.query = some(params.into());
            } else {
                req.body = some(params.into());
            }
        }
    }
    req
}

/// The sign route's body for `req`.
fn body_of(req: &SignRequest) -> Value {
    json!({"method": req.method, "path": req.path, "query": req.query, "body": req.body,
           "timestamp": req.timestamp, "nonce": req.nonce})
}

fn body(exchange: Exchange, doc: &Doc) -> Value {
    body_at(exchange, doc.0, doc.1, doc.2, now_ms())
}

async fn sign(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    id: &str,
    body: &Value,
) -> (u16, String, Value) {
    let (st, headers, bytes) = post(
        c,
        &s.url(&format!("/api/v1/exchange-keys/{id}/sign")),
        Some(token),
        body,
    )
    .await;
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (st, ct, json(&bytes))
}

/// A PEM EC key as Coinbase's key file has it (one line, `\n` escapes).
fn coinbase_pem() -> String {
    let out = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout"])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Adds a key for `exchange` with `permissions`; returns its id.
async fn add_key(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    exchange: Exchange,
    label: &str,
    permissions: &[&str],
) -> String {
    let (api_key, secret, passphrase) = match exchange {
        Exchange::Binance => (BINANCE_KEY.to_string(), BINANCE_SECRET.to_string(), None),
        Exchange::Kraken => (
            "kraken-public-key-0001".into(),
            KRAKEN_SECRET.to_string(),
            None,
        ),
        Exchange::Coinbase => (
            "organizations/0f7e/apiKeys/5a1c".into(),
            coinbase_pem(),
            None,
        ),
        Exchange::Okx | Exchange::Kucoin => (
            format!("{}-public-key-01", exchange.as_str()),
            OTHER_SECRET.to_string(),
            Some(PASSPHRASE),
        ),
        _ => (
            format!("{}-public-key-01", exchange.as_str()),
            OTHER_SECRET.to_string(),
            None,
        ),
    };
    let mut req = json!({"exchange": exchange.as_str(), "label": label, "api_key": api_key,
                         "secret": secret, "permissions": permissions});
    if let Some(p) = passphrase {
        req["passphrase"] = json!(p);
    }
    if exchange == Exchange::Okx {
        req["passphrase_in_headers"] = json!(true);
    }
    let (st, _, bytes) = post(c, &s.url("/api/v1/exchange-keys"), Some(token), &req).await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&bytes));
    let v = json(&bytes);
    assert_eq!(v["permissions"], json!(permissions));
    v["id"].as_str().unwrap().to_string()
}

async fn audit_rows(s: &TestServer, event: &str, key: &str) -> Vec<AuditRecord> {
    s.store
        .query_audit(&AuditQuery {
            event: Some(event.into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.subject.as_deref() == Some(key))
        .collect()
}

/// Asserts a 403 `signing-refused` answer with its members and its audit
/// row; returns the reason code.
async fn assert_refused(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    id: &str,
    body: &Value,
    what: &str,
) -> String {
    let before = audit_rows(s, "exchange_key_sign_refused", id).await.len();
    let (st, ct, problem) = sign(s, c, token, id, body).await;
    assert_eq!(st, 403, "{what}: {problem}");
    assert_eq!(ct, "application/problem+json", "{what}");
    assert_eq!(problem["type"], json!(PROBLEM), "{what}: {problem}");
    assert_eq!(problem["status"], json!(403));
    assert!(problem["class"].is_string(), "{what}: {problem}");
    assert!(problem["permissions"].is_array(), "{what}: {problem}");
    let reason = problem["reason"].as_str().unwrap().to_string();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        !detail.contains('\n') && !detail.contains('\r'),
        "{what}: {detail}"
    );
    for secret in [BINANCE_SECRET, KRAKEN_SECRET, OTHER_SECRET, PASSPHRASE] {
        assert!(!problem.to_string().contains(secret));
    }
    let rows = audit_rows(s, "exchange_key_sign_refused", id).await;
    assert_eq!(rows.len(), before + 1, "{what}: one audit row per refusal");
    let row = rows.iter().max_by_key(|r| r.id).unwrap();
    assert_eq!(row.event.outcome, "denied");
    let d = &row.event.details;
    assert_eq!(d["key"], json!(id));
    assert_eq!(d["reason"], json!(reason), "{what}: {d}");
    assert_eq!(d["class"], problem["class"]);
    assert!(d["version"].is_i64());
    let path = body["path"].as_str().unwrap();
    assert_eq!(
        d["path"].as_str().unwrap(),
        path.escape_debug().to_string().as_str(),
        "{what}: the path is recorded escaped"
    );
    reason
}

async fn every_exchange_signs_reads_and_trades_and_refuses_the_rest(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    s.add_user("tina", "trader").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let trader = access(&login(&s, &c, "tina").await);
    for f in FIXTURES {
        let ex = f.exchange;
        let id = add_key(&s, &c, &admin, ex, "bot", &["read", "trade"]).await;
        grant_user(&s, &c, &admin, &id, "tina").await;
        for (what, doc) in [("read", &f.read), ("trade", &f.trade)] {
            let (st, _, v) = sign(&s, &c, &trader, &id, &body(ex, doc)).await;
            assert_eq!(st, 200, "{ex} {what} {} ({}): {v}", doc.1, doc.3);
            assert!(v["signature"].as_str().is_some_and(|s| !s.is_empty()));
        }
        // The successful signatures are audited with their class, the
        // parameter names and the hash of the signed payload.
        let used = audit_rows(&s, "exchange_key_used", &id).await;
        assert_eq!(
            used.len(),
            2,
            "{ex}: {:?}",
            used.iter().map(|r| &r.event.details).collect::<Vec<_>>()
        );
        let mut classes: Vec<&str> = used
            .iter()
            .map(|r| r.event.details["class"].as_str().unwrap())
            .collect();
        classes.sort_unstable();
        assert_eq!(classes, ["read", "trade"], "{ex}");
        for r in &used {
            let d = &r.event.details;
            assert_eq!(d["key"], json!(id));
            assert!(d["version"].is_i64());
            assert!(d["method"].is_string() && d["path"].is_string());
            assert!(d["params"].is_array(), "{d}");
            let sha = d["payload_sha256"].as_str().unwrap();
            assert!(
                sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{d}"
            );
        }
        // Kraken's table has one account-admin entry (Create Subaccount):
        // its REST API has no other key or account administration call.
        let admins = if ex == Exchange::Kraken { 1 } else { 2 };
        assert!(f.withdraws.len() >= 3 && f.admins.len() >= admins, "{ex}");
        for doc in f.withdraws {
            let what = format!("{ex} withdraw {} {} ({})", doc.0, doc.1, doc.3);
            let reason = assert_refused(&s, &c, &trader, &id, &body(ex, doc), &what).await;
            assert_eq!(reason, "not-permitted", "{what}");
        }
        for doc in f.admins {
            let what = format!("{ex} account-admin {} {} ({})", doc.0, doc.1, doc.3);
            let reason = assert_refused(&s, &c, &trader, &id, &body(ex, doc), &what).await;
            assert_eq!(reason, "not-permitted", "{what}");
        }
        let (_, _, v) = sign(&s, &c, &trader, &id, &body(ex, &f.withdraws[0])).await;
        assert_eq!(v["class"], json!("withdraw"), "{ex}: {v}");
        assert_eq!(v["permissions"], json!(["read", "trade"]));
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains("`withdraw`") && detail.contains("read,trade"),
            "{detail}"
        );
    }

    // The OpenAPI document lists the refusal of the sign route.
    let (st, _, bytes) = get(&c, &s.url("/openapi.json"), None).await;
    assert_eq!(st, 200);
    let doc = json(&bytes);
    let refused = &doc["paths"]["/api/v1/exchange-keys/{id}/sign"]["post"]["responses"]["403"];
    assert!(
        refused["description"]
            .as_str()
            .unwrap_or("")
            .contains("signing-refused"),
        "{refused}"
    );
    s.stop().await;
}

const WITHDRAW: Doc = (
    "POST",
    "/sapi/v1/capital/withdraw/apply",
    "coin=BTC&network=BTC&address=bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh&amount=0.1",
    "Binance Wallet docs, \"Capital › Withdraw (USER_DATA)\"",
);

/// Enrolls TOTP for the signed-in `token` and steps up with a backup
/// code, as `tests/mfa.rs` does: the session's `mfa_at` is now.
async fn step_up(s: &TestServer, c: &reqwest::Client, token: &str) {
    let (st, _, bytes) = post(
        c,
        &s.url("/api/v1/mfa/totp/enroll"),
        Some(token),
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
    let uri = json(&bytes)["otpauth_uri"].as_str().unwrap().to_string();
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = cryptobot_auth::base32_decode(b32).unwrap();
    let code = cryptobot_auth::totp_code(&secret, now());
    let (st, _, bytes) = post(
        c,
        &s.url("/api/v1/mfa/totp/confirm"),
        Some(token),
        &json!({"code": code}),
    )
    .await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
    let backup = json(&bytes)["backup_codes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _, bytes) = post(
        c,
        &s.url("/api/v1/auth/step-up"),
        Some(token),
        &json!({"code": backup}),
    )
    .await;
    assert_eq!(st, 204, "{}", String::from_utf8_lossy(&bytes));
}

async fn current_session(s: &TestServer, c: &reqwest::Client, token: &str) -> String {
    let (_, _, bytes) = get(c, &s.url("/api/v1/sessions"), Some(token)).await;
    json(&bytes)
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn withdrawals_need_a_withdraw_key_the_setting_and_a_fresh_step_up(db: Db) {
    let s = TestServer::start(db, |st| st.security.api_keys.allow_withdraw_keys = true).await;
    s.add_user("ada", "admin").await;
    s.add_user("tina", "trader").await;
    let c = s.client();
    let ada = access(&login(&s, &c, "ada").await);
    let tina = access(&login(&s, &c, "tina").await);
    let mut keys = Vec::new();
    for f in FIXTURES {
        let id = add_key(&s, &c, &ada, f.exchange, "funds", &["withdraw"]).await;
        grant_user(&s, &c, &ada, &id, "tina").await;
        keys.push(id);
    }

    // No second factor in the session: refused, and the answer says why.
    for (f, id) in FIXTURES.iter().zip(&keys) {
        let withdraw = body(f.exchange, &f.withdraws[0]);
        for token in [&ada, &tina] {
            let what = format!("{} without step-up", f.exchange);
            let reason = assert_refused(&s, &c, token, id, &withdraw, &what).await;
            assert_eq!(reason, "withdraw-not-enabled", "{what}");
        }
        let (_, _, v) = sign(&s, &c, &tina, id, &withdraw).await;
        assert!(v["detail"].as_str().unwrap().contains("step-up"), "{v}");
    }

    // A fresh second factor, for every exchange: the destination must be
    // in the key's address book, and added at least
    // withdraw_address_delay_hours ago.
    step_up(&s, &c, &ada).await;
    let state = s.running.as_ref().unwrap().state();
    let vault = Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &state.settings,
        batcher: Some(&state.audit_batcher),
        budget: None,
    };
    let delay_ms = i64::from(
        state
            .settings
            .security
            .api_keys
            .withdraw_address_delay_hours,
    ) * 3_600_000;
    for (f, id) in FIXTURES.iter().zip(&keys) {
        let ex = f.exchange;
        let doc = &f.withdraws[0];
        let what = format!("{ex} withdraw {} ({})", doc.1, doc.3);
        let withdraw = body(ex, doc);
        let reason = assert_refused(&s, &c, &ada, id, &withdraw, &what).await;
        assert_eq!(reason, "destination-not-in-book", "{what}");

        let req = request_at(ex, doc.0, doc.1, doc.2, now_ms());
        let (address, network, memo) = match policy::destination(ex, &req).unwrap() {
            policy::Destination::Address {
                address,
                network,
                memo,
            } => (address, network, memo),
            policy::Destination::KrakenKey { key, .. } => (key, None, None),
        };
        let (st, _, bytes) = post(
            &c,
            &s.url(&format!("/api/v1/exchange-keys/{id}/addresses")),
            Some(&ada),
            &json!({"address": address, "network": network, "memo": memo, "label": "cold"}),
        )
        .await;
        assert_eq!(st, 201, "{what}: {}", String::from_utf8_lossy(&bytes));
        let added = json(&bytes);
        assert_eq!(added["approval"], Value::Null, "one admin: no approval");
        // Added a moment ago: not yet.
        let reason = assert_refused(&s, &c, &ada, id, &withdraw, &what).await;
        assert_eq!(reason, "destination-not-yet-usable", "{what}");
        // The delay elapsed (the vault's clock shifted past it): signed,
        // and audited as a withdrawal with its destination.
        let later = now_ms() + delay_ms + 60_000;
        let shifted = request_at(ex, doc.0, doc.1, doc.2, later);
        let who = Who {
            actor: Some("ada".into()),
            client: None,
        };
        vault
            .sign(&who, &Access::Host, id, &shifted, later, true)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let used = audit_rows(&s, "exchange_key_used", id).await;
        assert_eq!(used.len(), 1, "{what}");
        assert_eq!(used[0].event.details["class"], json!("withdraw"));
        let dest = used[0].event.details["destination"].as_str().unwrap();
        assert!(dest.contains(&address), "{what}: {dest}");
        // The same step-up without the shift is still refused, and the
        // step-up is needed even after the delay.
        match vault
            .sign(&who, &Access::Host, id, &shifted, later, false)
            .await
        {
            Err(VaultOpError::Refused(r)) => {
                assert_eq!(r.reason.code(), "withdraw-not-enabled", "{what}")
            }
            other => panic!("{what}: without a step-up it must be refused: {other:?}"),
        }
        // Another address: not in the book.
        let mut other = req.clone();
        let swap = |t: &str| t.replacen(&address, "bc1qattackerattackerattackerattacker0000", 1);
        other.body = other.body.as_deref().map(swap);
        other.query = other.query.as_deref().map(swap);
        let reason = assert_refused(&s, &c, &ada, id, &body_of(&other), &what).await;
        assert_eq!(reason, "destination-not-in-book", "{what}");
    }
    let id = &keys[0];
    let withdraw = body(Exchange::Binance, &WITHDRAW);

    // Non-canonical spellings of the same withdrawal are refused even with
    // a withdraw key and a fresh step-up: the path is never repaired.
    let params = WITHDRAW.2;
    for (path, want) in [
        ("/sapi/v1/capital//withdraw/apply", "empty-segment"),
        ("/SAPI/v1/capital/withdraw/apply", "non-canonical"),
        (
            "/api/v3/../../sapi/v1/capital/withdraw/apply",
            "dot-segment",
        ),
        (
            "%2Fsapi%2Fv1%2Fcapital%2Fwithdraw%2Fapply",
            "percent-encoding",
        ),
        ("/sapi/v1/capital/withdraw/apply?coin=BTC", "query-in-path"),
    ] {
        let b = body_at(Exchange::Binance, "POST", path, params, now_ms());
        let reason = assert_refused(&s, &c, &ada, id, &b, path).await;
        assert_eq!(reason, want, "{path}");
    }

    // A second factor older than withdraw_step_up_seconds is not fresh.
    let session = current_session(&s, &c, &ada).await;
    s.store
        .session_mfa_done(&session, now() - 600)
        .await
        .unwrap();
    let reason = assert_refused(&s, &c, &ada, id, &withdraw, "stale step-up").await;
    assert_eq!(reason, "withdraw-not-enabled");
    s.stop().await;
}

async fn smuggled_non_canonical_and_stale_requests_are_refused(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    s.add_user("root", "admin").await;
    let c = s.client();
    let admin = access(&login(&s, &c, "root").await);
    let id = add_key(&s, &c, &admin, Exchange::Binance, "bot", &["read", "trade"]).await;
    let kid = add_key(&s, &c, &admin, Exchange::Kraken, "bot", &["read", "trade"]).await;

    // Binance does not sign the path: the withdrawal's parameters sent for
    // a read path would make a valid withdrawal signature.
    let smuggled = body_at(
        Exchange::Binance,
        "POST",
        "/api/v3/account",
        WITHDRAW.2,
        now_ms(),
    );
    assert_refused(
        &s,
        &c,
        &admin,
        &id,
        &smuggled,
        "withdrawal query for /api/v3/account",
    )
    .await;
    let smuggled = body_at(
        Exchange::Binance,
        "GET",
        "/api/v3/account",
        WITHDRAW.2,
        now_ms(),
    );
    assert_refused(
        &s,
        &c,
        &admin,
        &id,
        &smuggled,
        "withdrawal query for GET /api/v3/account",
    )
    .await;

    // A Kraken nonce a year ahead would stay valid for a year.
    let ahead = now_ms() + 365 * 86_400_000;
    let b = body_at(Exchange::Kraken, "POST", "/0/private/Balance", "", ahead);
    let reason = assert_refused(&s, &c, &admin, &kid, &b, "nonce a year ahead").await;
    assert_eq!(reason, "nonce-outside-window");

    // CR/LF in the path.
    let b = body_at(
        Exchange::Binance,
        "GET",
        "/api/v3/account\r\nX-MBX-APIKEY: other",
        "",
        now_ms(),
    );
    let reason = assert_refused(&s, &c, &admin, &id, &b, "CR/LF").await;
    assert_eq!(reason, "control-character");

    // A path no table lists is refused, and an operator's extra path for
    // this key (and only it) opens exactly that request, with its class.
    let extra = (
        "GET",
        "/api/v3/myPreventedMatches",
        "symbol=BTCUSDT",
        "an extra path",
    );
    let b = body(Exchange::Binance, &extra);
    let reason = assert_refused(&s, &c, &admin, &id, &b, "unknown endpoint").await;
    assert_eq!(reason, "unknown-endpoint");
    let state = s.running.as_ref().unwrap().state();
    let mut settings = state.settings.clone();
    settings
        .vault
        .extra_paths
        .push(cryptobot_config::ExtraPath {
            key: id.clone(),
            method: "GET".into(),
            path: extra.1.into(),
            class: "read".into(),
            params: Some(vec!["symbol".into()]),
        });
    let vault = Vault {
        store: &state.store,
        keys: &state.vault,
        settings: &settings,
        batcher: Some(&state.audit_batcher),
        budget: None,
    };
    let who = Who {
        actor: Some("root".into()),
        client: None,
    };
    let req = |params: &str| SignRequest {
        method: "GET".into(),
        path: extra.1.into(),
        query: Some(format!("{params}&timestamp={}", now_ms())),
        ..SignRequest::default()
    };
    vault
        .sign(
            &who,
            &Access::Host,
            &id,
            &req("symbol=BTCUSDT"),
            now_ms(),
            false,
        )
        .await
        .unwrap();
    match vault
        .sign(&who, &Access::Host, &id, &req("coin=BTC"), now_ms(), false)
        .await
    {
        Err(VaultOpError::Refused(r)) => assert_eq!(r.reason.code(), "unknown-parameter"),
        other => panic!("an undeclared parameter must be refused: {other:?}"),
    }
    match vault
        .sign(
            &who,
            &Access::Host,
            &kid,
            &req("symbol=BTCUSDT"),
            now_ms(),
            false,
        )
        .await
    {
        Err(VaultOpError::Refused(r)) => assert_eq!(r.reason.code(), "unknown-endpoint"),
        other => panic!("another key's extra path must not apply: {other:?}"),
    }
    let used = audit_rows(&s, "exchange_key_used", &id).await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].event.details["via_extra_path"], json!(true));
    assert_eq!(used[0].event.details["class"], json!("read"));
    s.stop().await;
}
