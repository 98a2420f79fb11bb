//! Bybit v5 (HMAC keys).
//!
//! Bybit signs `timestamp ‖ key ‖ recv_window ‖ payload`, the payload being
//! the query string of a GET/DELETE or the JSON body of a POST/PUT — never
//! the path. So every entry lists its documented parameters (query names
//! for GET, top-level body keys for POST) and the riskier ones their
//! required ones. Sources: the Bybit V5 API documentation
//! (bybit-exchange.github.io/docs/v5, repository `bybit-exchange/docs`),
//! sections "Trade", "Position", "Account", "Asset" and "User", and the v5
//! endpoint list in ccxt's `ts/src/bybit.ts` (`api` section). Our own
//! table.

use super::entry::{A, Entry, R, T, W};

const PLACE_ORDER: &[&str] = &[
    "category",
    "symbol",
    "isLeverage",
    "side",
    "orderType",
    "qty",
    "marketUnit",
    "slippageToleranceType",
    "slippageTolerance",
    "price",
    "triggerDirection",
    "orderFilter",
    "triggerPrice",
    "triggerBy",
    "orderIv",
    "timeInForce",
    "positionIdx",
    "orderLinkId",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "reduceOnly",
    "closeOnTrigger",
    "smpType",
    "mmp",
    "tpslMode",
    "tpLimitPrice",
    "slLimitPrice",
    "tpOrderType",
    "slOrderType",
];

const AMEND_ORDER: &[&str] = &[
    "category",
    "symbol",
    "orderId",
    "orderLinkId",
    "orderIv",
    "triggerPrice",
    "qty",
    "price",
    "tpslMode",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "triggerBy",
    "tpLimitPrice",
    "slLimitPrice",
];

const TRADING_STOP: &[&str] = &[
    "category",
    "symbol",
    "tpslMode",
    "positionIdx",
    "takeProfit",
    "stopLoss",
    "trailingStop",
    "tpTriggerBy",
    "slTriggerBy",
    "activePrice",
    "tpSize",
    "slSize",
    "tpLimitPrice",
    "slLimitPrice",
    "tpOrderType",
    "slOrderType",
];

const PERMISSIONS: &[&str] = &["readOnly", "ips", "permissions"];

pub(crate) const TABLE: &[Entry] = &[
    // Bybit V5 API docs, "Trade".
    Entry::new(
        "POST",
        "/v5/order/create",
        T,
        "Bybit V5 API docs, \"Trade › Place Order\"",
    )
    .params(PLACE_ORDER),
    Entry::new(
        "POST",
        "/v5/order/amend",
        T,
        "Bybit V5 API docs, \"Trade › Amend Order\"",
    )
    .params(AMEND_ORDER),
    Entry::new(
        "POST",
        "/v5/order/cancel",
        T,
        "Bybit V5 API docs, \"Trade › Cancel Order\"",
    )
    .params(&[
        "category",
        "symbol",
        "orderId",
        "orderLinkId",
        "orderFilter",
    ]),
    Entry::new(
        "POST",
        "/v5/order/cancel-all",
        T,
        "Bybit V5 API docs, \"Trade › Cancel All Orders\"",
    )
    .params(&[
        "category",
        "symbol",
        "baseCoin",
        "settleCoin",
        "orderFilter",
        "stopOrderType",
    ]),
    Entry::new(
        "POST",
        "/v5/order/create-batch",
        T,
        "Bybit V5 API docs, \"Trade › Batch Place Order\"",
    )
    .params(&["category", "request"]),
    Entry::new(
        "POST",
        "/v5/order/amend-batch",
        T,
        "Bybit V5 API docs, \"Trade › Batch Amend Order\"",
    )
    .params(&["category", "request"]),
    Entry::new(
        "POST",
        "/v5/order/cancel-batch",
        T,
        "Bybit V5 API docs, \"Trade › Batch Cancel Order\"",
    )
    .params(&["category", "request"]),
    Entry::new(
        "GET",
        "/v5/order/realtime",
        R,
        "Bybit V5 API docs, \"Trade › Get Open & Closed Orders\"",
    )
    .params(&[
        "category",
        "symbol",
        "baseCoin",
        "settleCoin",
        "orderId",
        "orderLinkId",
        "openOnly",
        "orderFilter",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "GET",
        "/v5/order/history",
        R,
        "Bybit V5 API docs, \"Trade › Get Order History\"",
    )
    .params(&[
        "category",
        "symbol",
        "baseCoin",
        "settleCoin",
        "orderId",
        "orderLinkId",
        "orderFilter",
        "orderStatus",
        "startTime",
        "endTime",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "GET",
        "/v5/execution/list",
        R,
        "Bybit V5 API docs, \"Trade › Get Trade History\"",
    )
    .params(&[
        "category",
        "symbol",
        "orderId",
        "orderLinkId",
        "baseCoin",
        "startTime",
        "endTime",
        "execType",
        "limit",
        "cursor",
    ]),
    // Bybit V5 API docs, "Position".
    Entry::new(
        "GET",
        "/v5/position/list",
        R,
        "Bybit V5 API docs, \"Position › Get Position Info\"",
    )
    .params(&[
        "category",
        "symbol",
        "baseCoin",
        "settleCoin",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "POST",
        "/v5/position/set-leverage",
        T,
        "Bybit V5 API docs, \"Position › Set Leverage\"",
    )
    .params(&["category", "symbol", "buyLeverage", "sellLeverage"]),
    Entry::new(
        "POST",
        "/v5/position/trading-stop",
        T,
        "Bybit V5 API docs, \"Position › Set Trading Stop\"",
    )
    .params(TRADING_STOP),
    Entry::new(
        "POST",
        "/v5/position/switch-mode",
        T,
        "Bybit V5 API docs, \"Position › Switch Position Mode\"",
    )
    .params(&["category", "symbol", "coin", "mode"]),
    // Bybit V5 API docs, "Account".
    Entry::new(
        "GET",
        "/v5/account/wallet-balance",
        R,
        "Bybit V5 API docs, \"Account › Get Wallet Balance\"",
    )
    .params(&["accountType", "coin"]),
    Entry::new(
        "GET",
        "/v5/account/fee-rate",
        R,
        "Bybit V5 API docs, \"Account › Get Fee Rate\"",
    )
    .params(&["category", "symbol", "baseCoin"]),
    Entry::new(
        "GET",
        "/v5/account/info",
        R,
        "Bybit V5 API docs, \"Account › Get Account Info\"",
    )
    .params(&[]),
    Entry::new(
        "GET",
        "/v5/account/transaction-log",
        R,
        "Bybit V5 API docs, \"Account › Get Transaction Log\"",
    )
    .params(&[
        "accountType",
        "category",
        "currency",
        "baseCoin",
        "type",
        "startTime",
        "endTime",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "POST",
        "/v5/account/set-margin-mode",
        T,
        "Bybit V5 API docs, \"Account › Set Margin Mode\"",
    )
    .params(&["setMarginMode"]),
    Entry::new(
        "POST",
        "/v5/account/upgrade-to-uta",
        A,
        "Bybit V5 API docs, \"Account › Upgrade to Unified Account\"",
    )
    .params(&[]),
    // Bybit V5 API docs, "Asset": reads.
    Entry::new(
        "GET",
        "/v5/asset/transfer/query-account-coins-balance",
        R,
        "Bybit V5 API docs, \"Asset › Get All Coins Balance\"",
    )
    .params(&[
        "memberId",
        "accountType",
        "coin",
        "withBonus",
        "withTransferSafeAmount",
        "withLtvTransferSafeAmount",
    ]),
    Entry::new(
        "GET",
        "/v5/asset/transfer/query-inter-transfer-list",
        R,
        "Bybit V5 API docs, \"Asset › Get Internal Transfer Records\"",
    )
    .params(&[
        "transferId",
        "coin",
        "status",
        "startTime",
        "endTime",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "GET",
        "/v5/asset/withdraw/query-record",
        R,
        "Bybit V5 API docs, \"Asset › Get Withdrawal Records\"",
    )
    .params(&[
        "withdrawID",
        "txID",
        "coin",
        "withdrawType",
        "startTime",
        "endTime",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "GET",
        "/v5/asset/deposit/query-record",
        R,
        "Bybit V5 API docs, \"Asset › Get Deposit Records (on-chain)\"",
    )
    .params(&[
        "id",
        "txID",
        "coin",
        "startTime",
        "endTime",
        "limit",
        "cursor",
    ]),
    Entry::new(
        "GET",
        "/v5/asset/deposit/query-address",
        R,
        "Bybit V5 API docs, \"Asset › Get Master Deposit Address\"",
    )
    .params(&["coin", "chainType"]),
    // Bybit V5 API docs, "Asset": moving funds.
    Entry::new(
        "POST",
        "/v5/asset/withdraw/create",
        W,
        "Bybit V5 API docs, \"Asset › Withdraw\"",
    )
    .params(&[
        "coin",
        "chain",
        "address",
        "tag",
        "amount",
        "timestamp",
        "forceChain",
        "accountType",
        "feeType",
        "requestId",
        "beneficiary",
    ])
    .required(&["coin", "address", "amount"]),
    Entry::new(
        "POST",
        "/v5/asset/withdraw/cancel",
        W,
        "Bybit V5 API docs, \"Asset › Cancel Withdrawal\"",
    )
    .params(&["id"])
    .required(&["id"]),
    Entry::new(
        "POST",
        "/v5/asset/transfer/inter-transfer",
        W,
        "Bybit V5 API docs, \"Asset › Create Internal Transfer\"",
    )
    .params(&[
        "transferId",
        "coin",
        "amount",
        "fromAccountType",
        "toAccountType",
    ])
    .required(&[
        "transferId",
        "coin",
        "amount",
        "fromAccountType",
        "toAccountType",
    ]),
    Entry::new(
        "POST",
        "/v5/asset/transfer/universal-transfer",
        W,
        "Bybit V5 API docs, \"Asset › Create Universal Transfer\"",
    )
    .params(&[
        "transferId",
        "coin",
        "amount",
        "fromMemberId",
        "toMemberId",
        "fromAccountType",
        "toAccountType",
    ])
    .required(&[
        "transferId",
        "coin",
        "amount",
        "fromMemberId",
        "toMemberId",
        "fromAccountType",
        "toAccountType",
    ]),
    // Bybit V5 API docs, "Asset › Convert": the conversion stays on the
    // account, so `trade`.
    Entry::new(
        "POST",
        "/v5/asset/exchange/quote-apply",
        T,
        "Bybit V5 API docs, \"Asset › Convert › Request a Quote\"",
    )
    .params(&[
        "fromCoin",
        "toCoin",
        "fromCoinType",
        "toCoinType",
        "requestCoin",
        "requestAmount",
        "accountType",
        "paramType",
        "paramValue",
        "requestId",
    ]),
    Entry::new(
        "POST",
        "/v5/asset/exchange/convert-execute",
        T,
        "Bybit V5 API docs, \"Asset › Convert › Confirm a Quote\"",
    )
    .params(&["quoteTxId"]),
    // Bybit V5 API docs, "User": sub-accounts and API keys.
    Entry::new(
        "POST",
        "/v5/user/create-sub-member",
        A,
        "Bybit V5 API docs, \"User › Create Sub UID\"",
    )
    .params(&[
        "username",
        "password",
        "memberType",
        "switch",
        "isUta",
        "note",
    ])
    .required(&["username", "memberType"]),
    Entry::new(
        "POST",
        "/v5/user/create-sub-api",
        A,
        "Bybit V5 API docs, \"User › Create Sub UID API Key\"",
    )
    .params(&["subuid", "note", "readOnly", "ips", "permissions"])
    .required(&["subuid", "readOnly", "permissions"]),
    Entry::new(
        "POST",
        "/v5/user/update-api",
        A,
        "Bybit V5 API docs, \"User › Modify Master API Key\"",
    )
    .params(PERMISSIONS),
    Entry::new(
        "POST",
        "/v5/user/update-sub-api",
        A,
        "Bybit V5 API docs, \"User › Modify Sub API Key\"",
    )
    .params(&["apikey", "readOnly", "ips", "permissions"]),
    Entry::new(
        "POST",
        "/v5/user/delete-api",
        A,
        "Bybit V5 API docs, \"User › Delete Master API Key\"",
    )
    .params(&[]),
    Entry::new(
        "POST",
        "/v5/user/delete-sub-api",
        A,
        "Bybit V5 API docs, \"User › Delete Sub API Key\"",
    )
    .params(&["apikey"]),
    Entry::new(
        "POST",
        "/v5/user/frozen-sub-member",
        A,
        "Bybit V5 API docs, \"User › Freeze Sub UID\"",
    )
    .params(&["subuid", "frozen"])
    .required(&["subuid", "frozen"]),
    // The calling key's own information (bots check it at start): `read`.
    Entry::new(
        "GET",
        "/v5/user/query-api",
        R,
        "Bybit V5 API docs, \"User › Get API Key Information\"",
    )
    .params(&[]),
];
