//! The signing policy, end to end through `policy::check`: every exchange's
//! documented reads and trades pass for a `read,trade` key, its
//! withdrawals and account administration do not, withdrawals need the
//! setting and a fresh step-up, and the non-canonical paths, smuggled
//! parameters and stale or future timestamps and nonces are refused.

#![allow(clippy::unwrap_used)]

use cryptobot_vault::policy::{
    self, Class, Destination, ExtraPath, KeyPolicy, Permissions, Reason, Refusal, Settings, check,
};
use cryptobot_vault::{Exchange, SignRequest};

/// 2025-12-06T05:46:40Z, the vault's clock in these tests.
const NOW: i64 = 1_765_000_000_000;

fn key(perms: &str) -> KeyPolicy {
    KeyPolicy {
        permissions: Permissions::parse(perms).unwrap(),
        extra_paths: Vec::new(),
        // The OKX tests below are about the table; the opt-in has its own.
        passphrase_in_headers: true,
    }
}

#[test]
fn okx_is_signed_only_for_keys_that_may_hand_out_their_passphrase() {
    let req = request(Exchange::Okx, "GET", "/api/v5/account/balance", "");
    let without = KeyPolicy {
        passphrase_in_headers: false,
        ..key("read")
    };
    let r = check(Exchange::Okx, &req, &without, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason, Reason::PassphraseInHeaders);
    assert_eq!(r.reason.code(), "passphrase-in-headers");
    assert!(
        check(
            Exchange::Okx,
            &req,
            &key("read"),
            NOW,
            false,
            &settings(false)
        )
        .is_ok()
    );
    // KuCoin sends an HMAC of the passphrase, never the passphrase: no opt-in.
    let kc = request(Exchange::Kucoin, "GET", "/api/v1/accounts", "");
    assert!(
        check(
            Exchange::Kucoin,
            &kc,
            &without,
            NOW,
            false,
            &settings(false)
        )
        .is_ok()
    );
}

fn settings(allow_withdraw_keys: bool) -> Settings {
    Settings {
        allow_withdraw_keys,
        ..Settings::default()
    }
}

/// A request the way a strategy sends it for `exchange`, signed at `at`:
/// Binance form parameters (query for GET/DELETE, body otherwise) with
/// `timestamp=`; Kraken a form body with `nonce=`; the others the query of
/// a GET/DELETE or the JSON body of a POST/PUT, with `timestamp`.
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

fn request(exchange: Exchange, method: &str, path: &str, params: &str) -> SignRequest {
    request_at(exchange, method, path, params, NOW)
}

/// One documented request: method, path, parameters, documentation page.
type Doc = (&'static str, &'static str, &'static str, &'static str);

struct Fixture {
    exchange: Exchange,
    read: Doc,
    trade: Doc,
    withdraws: &'static [Doc],
    admins: &'static [Doc],
    /// What `destination` finds in `withdraws[0]`.
    destination: fn() -> Destination,
}

fn addr(address: &str, network: Option<&str>) -> Destination {
    Destination::Address {
        address: address.into(),
        network: network.map(Into::into),
        memo: None,
    }
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
        destination: || addr("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", Some("BTC")),
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
        destination: || Destination::KrakenKey {
            key: "cold-wallet".into(),
            address: None,
        },
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
        destination: || addr("0x99ced129603abc771c0dabe935c326ff6c86645d", Some("ETH")),
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
        destination: || addr("17DKe3kkkkiiiiTvAKKi2vMPbm1Bz3CMKw", Some("BTC-Bitcoin")),
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
        destination: || addr("TKFRQXSDcY4kd3QLzw7uK16GmLrjJggwX8", Some("trx")),
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
        destination: || {
            addr(
                "0x5b2a4732659ede2bbf394c193b9155a3b4732659",
                Some("ethereum"),
            )
        },
    },
];

fn run(
    exchange: Exchange,
    doc: &Doc,
    key: &KeyPolicy,
    step_up: bool,
    settings: &Settings,
) -> Result<policy::Checked, Refusal> {
    let (method, path, params, _) = *doc;
    check(
        exchange,
        &request(exchange, method, path, params),
        key,
        NOW,
        step_up,
        settings,
    )
}

#[test]
fn every_exchange_reads_and_trades_with_a_read_trade_key() {
    let rt = key("read,trade");
    for f in FIXTURES {
        for (doc, class) in [(&f.read, Class::Read), (&f.trade, Class::Trade)] {
            let got = run(f.exchange, doc, &rt, false, &settings(false))
                .unwrap_or_else(|r| panic!("{} {} {}: {r}", f.exchange, doc.1, doc.3));
            assert_eq!(got.class, class, "{} {}", f.exchange, doc.1);
            assert_eq!(got.destination, None);
            assert_eq!(got.payload_sha256.len(), 64);
        }
        // A read-only key reads and does not trade.
        let r = key("read");
        assert!(run(f.exchange, &f.read, &r, false, &settings(false)).is_ok());
        let refused = run(f.exchange, &f.trade, &r, false, &settings(false)).unwrap_err();
        assert_eq!(refused.class, Class::Trade);
    }
}

#[test]
fn every_exchange_refuses_withdrawals_and_administration_for_a_read_trade_key() {
    let rt = key("read,trade");
    for f in FIXTURES {
        assert!(f.withdraws.len() >= 3, "{}", f.exchange);
        for (docs, class) in [
            (f.withdraws, Class::Withdraw),
            (f.admins, Class::AccountAdmin),
        ] {
            for doc in docs {
                // Even with the setting on and a fresh step-up.
                let r = run(f.exchange, doc, &rt, true, &settings(true))
                    .err()
                    .unwrap_or_else(|| panic!("{} {} ({}) was allowed", f.exchange, doc.1, doc.3));
                assert_eq!(r.class, class, "{} {}: {r}", f.exchange, doc.1);
                assert_eq!(
                    r.reason.code(),
                    "not-permitted",
                    "{} {}: {r}",
                    f.exchange,
                    doc.1
                );
                let msg = r.to_string();
                assert!(
                    msg.contains(&format!("`{class}`")) && msg.contains("`read,trade`"),
                    "{msg}"
                );
                assert!(!msg.contains('\n'));
            }
        }
        // An account-admin key administers, and nothing else.
        let admin = key("account-admin");
        for doc in f.admins {
            assert!(run(f.exchange, doc, &admin, false, &settings(false)).is_ok());
        }
        assert!(run(f.exchange, &f.trade, &admin, false, &settings(false)).is_err());
    }
}

#[test]
fn withdrawals_need_a_withdraw_key_the_setting_and_a_fresh_step_up() {
    let w = key("read,withdraw");
    for f in FIXTURES {
        let doc = &f.withdraws[0];
        let ok = run(f.exchange, doc, &w, true, &settings(true))
            .unwrap_or_else(|r| panic!("{} {}: {r}", f.exchange, doc.1));
        assert_eq!(ok.class, Class::Withdraw);
        assert_eq!(ok.destination, Some((f.destination)()), "{}", f.exchange);

        let no_step_up = run(f.exchange, doc, &w, false, &settings(true)).unwrap_err();
        assert_eq!(
            no_step_up.reason,
            Reason::WithdrawNotEnabled {
                setting_off: false,
                step_up_missing: true
            }
        );
        assert!(no_step_up.to_string().contains("step-up"));
        let no_setting = run(f.exchange, doc, &w, true, &settings(false)).unwrap_err();
        assert_eq!(
            no_setting.reason,
            Reason::WithdrawNotEnabled {
                setting_off: true,
                step_up_missing: false
            }
        );
        assert!(no_setting.to_string().contains("allow_withdraw_keys"));
        assert_eq!(no_setting.class, Class::Withdraw);
    }
}

#[test]
fn non_canonical_paths_are_refused_for_binance() {
    let rt = key("read,trade");
    let cases = [
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
        ("/api/v3/account?coin=BTC&address=x", "query-in-path"),
        ("/api/v3/Account", "non-canonical"),
        ("/api/v3/account/", "trailing-slash"),
        ("/api/v3/./account", "dot-segment"),
        ("/api/v3/accoünt", "non-ascii"),
        ("/api/v3/account#x", "fragment-in-path"),
    ];
    for (path, code) in cases {
        let req = request(
            Exchange::Binance,
            "POST",
            path,
            "coin=BTC&address=x&amount=1",
        );
        let r = check(Exchange::Binance, &req, &rt, NOW, true, &settings(true)).unwrap_err();
        assert_eq!(r.reason.code(), code, "{path}: {r}");
    }
    // Kraken's paths are case-sensitive too.
    let req = request(Exchange::Kraken, "POST", "/0/private/withdraw", "asset=XBT");
    let r = check(Exchange::Kraken, &req, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(
        r.reason,
        Reason::NonCanonical {
            canonical: "/0/private/Withdraw"
        }
    );
}

#[test]
fn control_characters_in_the_path_are_refused() {
    let rt = key("read,trade");
    for (c, code) in [
        ('\r', 0x0d),
        ('\n', 0x0a),
        ('\u{1b}', 0x1b),
        ('\t', 0x09),
        ('\u{2028}', 0x2028),
        ('\u{2029}', 0x2029),
        ('\0', 0),
        ('\u{7f}', 0x7f),
    ] {
        for exchange in Exchange::ALL {
            let path = format!("/api/v3/account{c}");
            let req = request(exchange, "GET", &path, "");
            let r = check(exchange, &req, &rt, NOW, false, &settings(false)).unwrap_err();
            assert_eq!(r.reason, Reason::ControlCharacter(code), "{exchange} {c:?}");
            assert!(!r.to_string().contains(c));
        }
    }
}

#[test]
fn binance_parameter_smuggling_is_refused() {
    let rt = key("read,trade");
    let withdrawal =
        "coin=BTC&address=bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh&amount=1&network=BTC";
    for (method, path) in [
        ("GET", "/api/v3/account"),
        ("GET", "/api/v3/openOrders"),
        ("POST", "/api/v3/order"),
    ] {
        let req = request(Exchange::Binance, method, path, withdrawal);
        let r = check(Exchange::Binance, &req, &rt, NOW, false, &settings(false)).unwrap_err();
        assert_eq!(r.reason.code(), "unknown-parameter", "{path}: {r}");
        assert!(r.to_string().contains("`coin`"), "{r}");
    }
    // Split between query and body: the same signature.
    let req = SignRequest {
        method: "GET".into(),
        path: "/api/v3/account".into(),
        query: Some("coin=BTC&address=x".into()),
        body: Some(format!("amount=1&timestamp={NOW}")),
        ..SignRequest::default()
    };
    assert!(check(Exchange::Binance, &req, &rt, NOW, false, &settings(false)).is_err());
    // Encoded names, duplicates and `signature` are refused too.
    for params in [
        "addr%65ss=x",
        "symbol=BTCUSDT&symbol=ETHUSDT",
        "signature=00",
        "Symbol=BTCUSDT",
    ] {
        let req = request(Exchange::Binance, "GET", "/api/v3/openOrders", params);
        let r = check(Exchange::Binance, &req, &rt, NOW, false, &settings(false)).unwrap_err();
        assert!(
            matches!(
                r.reason.code(),
                "parameter-name" | "duplicate-parameter" | "unknown-parameter"
            ),
            "{params}: {r}"
        );
    }
    // A documented parameter set that another, riskier endpoint also
    // accepts: margin borrow/repay with exactly the parameters of a
    // universal transfer (`type`, `asset`, `amount`). Naming `isIsolated`,
    // which transfers do not take, makes it unambiguous.
    let ambiguous = request(
        Exchange::Binance,
        "POST",
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=1&type=BORROW",
    );
    let r = check(
        Exchange::Binance,
        &ambiguous,
        &rt,
        NOW,
        false,
        &settings(false),
    )
    .unwrap_err();
    assert_eq!(
        r.reason,
        Reason::ParametersFitRiskierEndpoint {
            endpoint: "POST /sapi/v1/asset/transfer".into(),
            class: Class::Withdraw
        }
    );
    let clear = request(
        Exchange::Binance,
        "POST",
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&isIsolated=FALSE&amount=1&type=BORROW",
    );
    assert!(check(Exchange::Binance, &clear, &rt, NOW, false, &settings(false)).is_ok());
}

#[test]
fn bybit_parameter_smuggling_is_refused() {
    let rt = key("read,trade");
    let get = request(
        Exchange::Bybit,
        "GET",
        "/v5/account/wallet-balance",
        "coin=USDT&chain=ETH&address=0x99ced129603abc771c0dabe935c326ff6c86645d&amount=24",
    );
    let r = check(Exchange::Bybit, &get, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason.code(), "unknown-parameter", "{r}");
    assert!(r.to_string().contains("`chain`"), "{r}");
    // The withdrawal body on a trade path.
    let post = request(
        Exchange::Bybit,
        "POST",
        "/v5/order/create",
        r#"{"coin":"USDT","chain":"ETH","address":"0x99","amount":"24","timestamp":1765000000000}"#,
    );
    let r = check(Exchange::Bybit, &post, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason.code(), "unknown-parameter", "{r}");
    // Duplicate keys, a body that is not JSON, a query on a POST.
    for (method, query, body) in [
        (
            "POST",
            None,
            Some(r#"{"category":"spot","category":"linear"}"#),
        ),
        ("POST", None, Some("category=spot")),
        ("POST", Some("category=spot"), None),
        ("GET", Some("category=spot"), Some("{}")),
    ] {
        let req = SignRequest {
            method: method.into(),
            path: "/v5/order/cancel-all".into(),
            query: query.map(Into::into),
            body: body.map(Into::into),
            timestamp: Some(NOW),
            ..SignRequest::default()
        };
        assert!(
            check(Exchange::Bybit, &req, &rt, NOW, false, &settings(false)).is_err(),
            "{method} {query:?} {body:?}"
        );
    }
}

#[test]
fn kraken_nonces_are_read_as_time() {
    let rt = key("read,trade");
    let balance = |nonce: &str| SignRequest {
        method: "POST".into(),
        path: "/0/private/Balance".into(),
        body: Some(format!("nonce={nonce}")),
        nonce: Some(nonce.into()),
        ..SignRequest::default()
    };
    let verdict = |nonce: &str| {
        check(
            Exchange::Kraken,
            &balance(nonce),
            &rt,
            NOW,
            false,
            &settings(false),
        )
        .map(|_| ())
        .map_err(|r| r.reason.code())
    };
    let year_ms = 365 * 24 * 3600 * 1000_i64;
    // Current, in milliseconds, microseconds and nanoseconds.
    assert_eq!(verdict(&NOW.to_string()), Ok(()));
    assert_eq!(verdict(&(NOW - 30_000).to_string()), Ok(()));
    assert_eq!(verdict(&format!("{NOW}123")), Ok(()));
    assert_eq!(verdict(&format!("{NOW}123456")), Ok(()));
    // A year ahead (ms and µs), and the 19-digit maximum people try.
    for nonce in [
        (NOW + year_ms).to_string(),
        format!("{}000", NOW + year_ms),
        "9999999999999999999".into(),
        "99999999999999999999".into(),
    ] {
        assert_eq!(verdict(&nonce), Err("nonce-outside-window"), "{nonce}");
    }
    // Counters and seconds read as 1970: refused (documented).
    assert_eq!(verdict("5"), Err("nonce-outside-window"));
    assert_eq!(verdict("1765000000"), Err("nonce-outside-window"));
    for bad in ["", "-1", "1.5e12", "0x10", "123456789012345678901"] {
        assert_eq!(verdict(bad), Err("nonce-not-numeric"), "{bad:?}");
    }
    // The `nonce` field and the body's `nonce=` are each checked.
    let mut split = balance(&NOW.to_string());
    split.body = Some(format!("nonce={}", NOW + year_ms));
    let r = check(Exchange::Kraken, &split, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason.code(), "nonce-outside-window");
    let mut missing = balance("1");
    missing.nonce = None;
    missing.body = None;
    let r = check(
        Exchange::Kraken,
        &missing,
        &rt,
        NOW,
        false,
        &settings(false),
    )
    .unwrap_err();
    assert_eq!(r.reason, Reason::NonceMissing);
}

#[test]
fn timestamps_outside_the_window_are_refused_for_every_scheme() {
    let rt = key("read,trade");
    for f in FIXTURES {
        let (method, path, params, _) = f.read;
        for (at, ok) in [
            (NOW, true),
            (NOW - 59_000, true),
            (NOW + 59_000, true),
            (NOW - 61_000, false),
            (NOW + 61_000, false),
            (NOW + 365 * 24 * 3600 * 1000, false),
        ] {
            let req = request_at(f.exchange, method, path, params, at);
            let got = check(f.exchange, &req, &rt, NOW, false, &settings(false));
            assert_eq!(got.is_ok(), ok, "{} at {at}: {got:?}", f.exchange);
            if let Err(r) = got {
                assert!(
                    matches!(
                        r.reason.code(),
                        "timestamp-outside-window" | "nonce-outside-window"
                    ),
                    "{r}"
                );
            }
        }
    }
    // Binance: a stale `timestamp` field beside a fresh `timestamp=`.
    let mut both = request(Exchange::Binance, "GET", "/api/v3/account", "");
    both.timestamp = Some(NOW - 3_600_000);
    let r = check(Exchange::Binance, &both, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason.code(), "timestamp-outside-window");
    let none = SignRequest {
        method: "GET".into(),
        path: "/api/v5/account/balance".into(),
        ..SignRequest::default()
    };
    let r = check(Exchange::Okx, &none, &rt, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason, Reason::TimestampMissing);
}

#[test]
fn destinations_are_read_as_each_exchange_sends_them() {
    let d = |exchange, method, path, params: &str| {
        policy::destination(exchange, &request(exchange, method, path, params))
    };
    // Binance: query or body, percent-decoded, with the tag.
    assert_eq!(
        d(
            Exchange::Binance,
            "POST",
            "/sapi/v1/capital/withdraw/apply",
            "coin=XRP&address=rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh&addressTag=10%2001&network=XRP&amount=5"
        ),
        Some(Destination::Address {
            address: "rEb8TK3gBgk5auZkwc6sHnwrGVJH8DuaLh".into(),
            network: Some("XRP".into()),
            memo: Some("10 01".into())
        })
    );
    assert_eq!(
        d(
            Exchange::Kraken,
            "POST",
            "/0/private/Withdraw",
            "asset=XBT&key=cold+wallet&address=bc1qxy&amount=1"
        ),
        Some(Destination::KrakenKey {
            key: "cold wallet".into(),
            address: Some("bc1qxy".into())
        })
    );
    assert_eq!(
        d(
            Exchange::Kucoin,
            "POST",
            "/api/v3/withdrawals",
            r#"{"currency":"XRP","toAddress":"rEb8","memo":"7","chain":"xrp","amount":"1"}"#
        ),
        Some(Destination::Address {
            address: "rEb8".into(),
            network: Some("xrp".into()),
            memo: Some("7".into())
        })
    );
    for f in FIXTURES {
        let (method, path, params, _) = f.withdraws[0];
        assert_eq!(d(f.exchange, method, path, params), Some((f.destination)()));
    }
    // Nothing to find, or malformed: None, never a panic.
    for (exchange, body) in [
        (Exchange::Bybit, "{"),
        (Exchange::Bybit, r#"{"address":17}"#),
        (Exchange::Okx, r#"[{"toAddr":"x"}]"#),
        (Exchange::Coinbase, r#"{"to":null}"#),
        (Exchange::Coinbase, "\u{0}"),
        (Exchange::Kucoin, ""),
    ] {
        let req = SignRequest {
            method: "POST".into(),
            path: "/x".into(),
            body: Some(body.into()),
            ..SignRequest::default()
        };
        let got = policy::destination(exchange, &req);
        assert!(
            got.is_none()
                || matches!(&got, Some(Destination::Address { address, .. }) if address == "17"),
            "{exchange} {body:?}: {got:?}"
        );
    }
}

#[test]
fn unknown_endpoints_need_an_extra_path() {
    let mut k = key("read,trade,withdraw,account-admin");
    let req = request(
        Exchange::Okx,
        "GET",
        "/api/v5/finance/savings/balance",
        "ccy=USDT",
    );
    let r = check(Exchange::Okx, &req, &k, NOW, true, &settings(true)).unwrap_err();
    assert_eq!(r.reason.code(), "unknown-endpoint");
    assert_eq!(r.class, Class::Unknown);
    k.extra_paths
        .push(ExtraPath::new("GET", "/api/v5/finance/savings/balance", Class::Read, None).unwrap());
    let ok = check(Exchange::Okx, &req, &k, NOW, false, &settings(false)).unwrap();
    assert_eq!((ok.class, ok.via_extra_path), (Class::Read, true));

    // Binance needs the extra path's parameter names.
    let mut b = key("read");
    b.extra_paths
        .push(ExtraPath::new("GET", "/sapi/v1/margin/allPairs", Class::Read, None).unwrap());
    let req = request(
        Exchange::Binance,
        "GET",
        "/sapi/v1/margin/allPairs",
        "symbol=BTCUSDT",
    );
    let r = check(Exchange::Binance, &req, &b, NOW, false, &settings(false)).unwrap_err();
    assert_eq!(r.reason.code(), "extra-path-needs-parameters");
    b.extra_paths[0].params = Some(vec!["symbol".into()]);
    assert!(check(Exchange::Binance, &req, &b, NOW, false, &settings(false)).is_ok());
    let smuggled = request(
        Exchange::Binance,
        "GET",
        "/sapi/v1/margin/allPairs",
        "symbol=BTCUSDT&address=x",
    );
    let r = check(
        Exchange::Binance,
        &smuggled,
        &b,
        NOW,
        false,
        &settings(false),
    )
    .unwrap_err();
    assert_eq!(r.reason.code(), "unknown-parameter");
    // An extra path's class keeps the rules: a withdraw extra path still
    // needs the setting and a step-up.
    let mut w = key("withdraw");
    w.extra_paths
        .push(ExtraPath::new("POST", "/0/private/Earn/Bond", Class::Withdraw, None).unwrap());
    let req = request(Exchange::Kraken, "POST", "/0/private/Earn/Bond", "amount=1");
    let r = check(Exchange::Kraken, &req, &w, NOW, false, &settings(true)).unwrap_err();
    assert_eq!(r.reason.code(), "withdraw-not-enabled");
    assert!(check(Exchange::Kraken, &req, &w, NOW, true, &settings(true)).is_ok());
}

#[test]
fn the_audit_gets_the_parameter_names_and_the_payload_hash() {
    let rt = key("read,trade");
    let (method, path, params, _) = FIXTURES[0].trade;
    let req = request(Exchange::Binance, method, path, params);
    let got = check(Exchange::Binance, &req, &rt, NOW, false, &settings(false)).unwrap();
    assert_eq!(
        got.params,
        [
            "symbol",
            "side",
            "type",
            "timeInForce",
            "quantity",
            "price",
            "timestamp"
        ]
    );
    let body = req.body.as_deref().unwrap();
    let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let want: String = want.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got.payload_sha256, want);

    // OKX: what it signs, ISO time, method, target and body.
    let okx = SignRequest {
        method: "GET".into(),
        path: "/api/v5/account/balance".into(),
        query: Some("ccy=BTC".into()),
        timestamp: Some(1_607_418_537_715),
        ..SignRequest::default()
    };
    assert_eq!(
        policy::signed_payload(Exchange::Okx, &okx).unwrap(),
        b"2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
    );
    assert_eq!(
        policy::parameter_names(Exchange::Okx, &okx).unwrap(),
        ["ccy"]
    );
}

const START: &str = "<!-- policy-table:start -->";
const END: &str = "<!-- policy-table:end -->";

/// `docs/vault.md` holds the table `policy::markdown_table()` renders.
/// Regenerate with `CRYPTOBOT_BLESS=1 cargo test -p cryptobot-vault --test
/// policy docs_table`.
#[test]
fn docs_table_matches_the_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vault.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(START)
        .expect("docs/vault.md has the start marker")
        + START.len();
    let end = text.find(END).expect("docs/vault.md has the end marker");
    let want = format!("\n\n{}\n", policy::markdown_table());
    if text[start..end] == want {
        return;
    }
    if std::env::var_os("CRYPTOBOT_BLESS").is_some_and(|v| v == "1") {
        let new = format!("{}{want}{}", &text[..start], &text[end..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    panic!(
        "the policy table in docs/vault.md is out of date; regenerate it with\n  CRYPTOBOT_BLESS=1 cargo test -p cryptobot-vault --test policy docs_table"
    );
}

#[test]
fn table_sizes() {
    for exchange in Exchange::ALL {
        let n = policy::table(exchange).len();
        assert!(n >= 30, "{exchange}: {n} entries");
    }
}

/// A small deterministic generator (xorshift64): `proptest` is not in the
/// lockfile, and these properties need no shrinking.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mutations of every withdraw and account-admin path (a letter's case
/// flipped, a separator, dot segment, encoding or control character
/// inserted, a trailing slash) are refused, unknown, or keep their class:
/// never `read` or `trade`.
#[test]
fn mutated_risky_paths_never_become_reads_or_trades() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let inserts = [
        "/", "//", "/./", "/../", "%2F", "%2f", "\r", "\n", "\t", "\u{1b}", "\u{2028}", "\0", "?",
        "#", " ", ";", "\\", ".", "..", "~", "ſ", "K",
    ];
    let mut tried = 0;
    for exchange in Exchange::ALL {
        for e in policy::table(exchange) {
            if !matches!(e.class, Class::Withdraw | Class::AccountAdmin) {
                continue;
            }
            let concrete: String = e
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "ab-1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for _ in 0..200 {
                let mut p: Vec<char> = concrete.chars().collect();
                match rng.below(3) {
                    0 => {
                        let i = rng.below(p.len());
                        p[i] = if p[i].is_ascii_lowercase() {
                            p[i].to_ascii_uppercase()
                        } else {
                            p[i].to_ascii_lowercase()
                        };
                    }
                    1 => {
                        let i = rng.below(p.len() + 1);
                        let ins = inserts[rng.below(inserts.len())];
                        p.splice(i..i, ins.chars());
                    }
                    _ => p.push('/'),
                }
                let p: String = p.into_iter().collect();
                if p == concrete {
                    continue;
                }
                tried += 1;
                if let Ok((class, _)) = policy::classify(exchange, e.method, &p) {
                    assert!(
                        !matches!(class, Class::Read | Class::Trade),
                        "{exchange} {} {p:?} became {class}",
                        e.method
                    );
                }
            }
        }
    }
    assert!(tried > 10_000, "{tried}");
}

/// Random bytes as method, path, query and body: `check` answers, never
/// panics.
#[test]
fn garbage_never_panics() {
    let mut rng = Rng(42);
    let alphabet: Vec<char> = "aZ09/._-~%?#&=;{}[]\"':, \r\n\t\u{1b}\u{2028}é漢\0\u{7f}"
        .chars()
        .collect();
    let all = key("read,trade,withdraw,account-admin");
    let text = |rng: &mut Rng| -> String {
        let n = rng.below(40);
        (0..n)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    };
    for i in 0..20_000 {
        let exchange = Exchange::ALL[i % Exchange::ALL.len()];
        let req = SignRequest {
            method: ["GET", "POST", "put", "TRACE"][rng.below(4)].into(),
            path: format!("/{}", text(&mut rng)),
            query: Some(text(&mut rng)),
            body: Some(if rng.below(2) == 0 {
                format!("{{\"{}\":{}}}", text(&mut rng), text(&mut rng))
            } else {
                text(&mut rng)
            }),
            timestamp: Some(NOW),
            nonce: Some(text(&mut rng)),
            recv_window: None,
        };
        let _ = check(exchange, &req, &all, NOW, true, &settings(true));
        let _ = policy::destination(exchange, &req);
        let _ = policy::parameter_names(exchange, &req);
    }
}
