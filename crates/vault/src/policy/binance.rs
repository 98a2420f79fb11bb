//! Binance: spot (`/api/v3`), wallet, margin and sub-account (`/sapi`),
//! USDⓈ-M futures (`/fapi`).
//!
//! Binance signs `query ‖ body` only, never the method or path, so every
//! entry lists its documented parameters (besides `timestamp` and
//! `recvWindow`) and the riskier entries their required ones. Sources:
//! the Binance Spot API docs (developers.binance.com, repository
//! `binance/binance-spot-api-docs`, "rest-api.md"), the Binance Wallet,
//! Sub Account, Margin Trading and USDⓈ-M Futures docs on the same site,
//! cross-checked against the endpoint list in ccxt's `ts/src/binance.ts`
//! (`api` section). Our own table.

use super::table::{A, Entry, R, T, W};

const NEW_ORDER: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

const TEST_ORDER: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
    "computeCommissionRates",
];

const CANCEL_REPLACE: &[&str] = &[
    "symbol",
    "side",
    "type",
    "cancelReplaceMode",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "cancelNewClientOrderId",
    "cancelOrigClientOrderId",
    "cancelOrderId",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "cancelRestrictions",
    "orderRateLimitExceededMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

const OCO: &[&str] = &[
    "symbol",
    "listClientOrderId",
    "side",
    "quantity",
    "aboveType",
    "aboveClientOrderId",
    "aboveIcebergQty",
    "abovePrice",
    "aboveStopPrice",
    "aboveTrailingDelta",
    "aboveTimeInForce",
    "aboveStrategyId",
    "aboveStrategyType",
    "belowType",
    "belowClientOrderId",
    "belowIcebergQty",
    "belowPrice",
    "belowStopPrice",
    "belowTrailingDelta",
    "belowTimeInForce",
    "belowStrategyId",
    "belowStrategyType",
    "newOrderRespType",
    "selfTradePreventionMode",
];

const MARGIN_ORDER: &[&str] = &[
    "symbol",
    "isIsolated",
    "side",
    "type",
    "quantity",
    "quoteOrderQty",
    "price",
    "stopPrice",
    "newClientOrderId",
    "icebergQty",
    "newOrderRespType",
    "sideEffectType",
    "timeInForce",
    "selfTradePreventionMode",
    "autoRepayAtCancel",
];

const FUTURES_ORDER: &[&str] = &[
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "stopPrice",
    "closePosition",
    "activationPrice",
    "callbackRate",
    "workingType",
    "priceProtect",
    "newOrderRespType",
    "priceMatch",
    "selfTradePreventionMode",
    "goodTillDate",
];

const SPOT_ACCOUNT: &str = "Binance Spot API docs, \"Account Endpoints\"";
const SPOT_TRADE: &str = "Binance Spot API docs, \"Trading Endpoints\"";
const WALLET_CAPITAL: &str = "Binance Wallet docs, \"Capital\"";
const WALLET_ASSET: &str = "Binance Wallet docs, \"Asset\"";
const WALLET_ACCOUNT: &str = "Binance Wallet docs, \"Account\"";
const CONVERT: &str = "Binance Convert docs, \"Trade\"";
const SUB_ACCOUNT: &str = "Binance Sub Account docs, \"Asset Management\"";
const SUB_ACCOUNT_MGMT: &str = "Binance Sub Account docs, \"Account Management\"";
const SUB_ACCOUNT_API: &str = "Binance Sub Account docs, \"API Management\"";
const MARGIN_TRADE: &str = "Binance Margin Trading docs, \"Trade\"";
const MARGIN_ACCOUNT: &str = "Binance Margin Trading docs, \"Account\"";
const MARGIN_TRANSFER: &str = "Binance Margin Trading docs, \"Transfer\"";
const FUTURES_ACCOUNT: &str = "Binance USDⓈ-M Futures docs, \"Account\"";
const FUTURES_TRADE: &str = "Binance USDⓈ-M Futures docs, \"Trade\"";

pub(crate) const TABLE: &[Entry] = &[
    // Binance Spot API docs, "Account Endpoints": Account information,
    // Query order, Current open orders, All orders, Account trade list,
    // Query Unfilled Order Count, Query Commission Rates (USER_DATA).
    Entry::new("GET", "/api/v3/account", R, SPOT_ACCOUNT).params(&["omitZeroBalances"]),
    Entry::new("GET", "/api/v3/order", R, SPOT_ACCOUNT).params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
    ]),
    Entry::new("GET", "/api/v3/openOrders", R, SPOT_ACCOUNT).params(&["symbol"]),
    Entry::new("GET", "/api/v3/allOrders", R, SPOT_ACCOUNT).params(&[
        "symbol",
        "orderId",
        "startTime",
        "endTime",
        "limit",
    ]),
    Entry::new("GET", "/api/v3/myTrades", R, SPOT_ACCOUNT).params(&[
        "symbol",
        "orderId",
        "startTime",
        "endTime",
        "fromId",
        "limit",
    ]),
    Entry::new("GET", "/api/v3/rateLimit/order", R, SPOT_ACCOUNT).params(&[]),
    Entry::new("GET", "/api/v3/account/commission", R, SPOT_ACCOUNT).params(&["symbol"]),
    // Binance Spot API docs, "Trading Endpoints": New order, Test new
    // order, Cancel order, Cancel all open orders on a symbol, Cancel an
    // existing order and send a new order, Order amend keep priority, New
    // order list - OCO, Cancel order list (TRADE).
    Entry::new("POST", "/api/v3/order", T, SPOT_TRADE).params(NEW_ORDER),
    Entry::new("POST", "/api/v3/order/test", T, SPOT_TRADE).params(TEST_ORDER),
    Entry::new("DELETE", "/api/v3/order", T, SPOT_TRADE).params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
        "cancelRestrictions",
    ]),
    Entry::new("DELETE", "/api/v3/openOrders", T, SPOT_TRADE).params(&["symbol"]),
    Entry::new("POST", "/api/v3/order/cancelReplace", T, SPOT_TRADE).params(CANCEL_REPLACE),
    Entry::new("PUT", "/api/v3/order/amend/keepPriority", T, SPOT_TRADE).params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
        "newQty",
    ]),
    Entry::new("POST", "/api/v3/orderList/oco", T, SPOT_TRADE).params(OCO),
    Entry::new("DELETE", "/api/v3/orderList", T, SPOT_TRADE).params(&[
        "symbol",
        "orderListId",
        "listClientOrderId",
        "newClientOrderId",
    ]),
    // Binance Wallet docs, "Capital": Withdraw (USER_DATA).
    Entry::new("POST", "/sapi/v1/capital/withdraw/apply", W, WALLET_CAPITAL)
        .params(&[
            "coin",
            "withdrawOrderId",
            "network",
            "address",
            "addressTag",
            "amount",
            "transactionFeeFlag",
            "name",
            "walletType",
        ])
        .required(&["coin", "address", "amount"]),
    // Binance Wallet docs, "Capital": Withdraw History, Deposit History,
    // All Coins' Information, Fetch withdraw address list (USER_DATA).
    Entry::new(
        "GET",
        "/sapi/v1/capital/withdraw/history",
        R,
        WALLET_CAPITAL,
    )
    .params(&[
        "coin",
        "withdrawOrderId",
        "status",
        "offset",
        "limit",
        "idList",
        "startTime",
        "endTime",
    ]),
    Entry::new("GET", "/sapi/v1/capital/deposit/hisrec", R, WALLET_CAPITAL).params(&[
        "includeSource",
        "coin",
        "status",
        "startTime",
        "endTime",
        "offset",
        "limit",
        "txId",
    ]),
    Entry::new("GET", "/sapi/v1/capital/config/getall", R, WALLET_CAPITAL).params(&[]),
    Entry::new(
        "GET",
        "/sapi/v1/capital/withdraw/address/list",
        R,
        WALLET_CAPITAL,
    )
    .params(&[]),
    // Binance Wallet docs, "Capital": Deposit Address (supporting network)
    // (USER_DATA). It returns the account's own address to receive funds
    // (creating it on first use): nothing leaves the account, so `read`.
    Entry::new("GET", "/sapi/v1/capital/deposit/address", R, WALLET_CAPITAL)
        .params(&["coin", "network", "amount"]),
    // Binance Wallet docs, "Asset": User Universal Transfer (USER_DATA).
    Entry::new("POST", "/sapi/v1/asset/transfer", W, WALLET_ASSET)
        .params(&["type", "asset", "amount", "fromSymbol", "toSymbol"])
        .required(&["type", "asset", "amount"]),
    // Binance Wallet docs, "Asset": Query User Universal Transfer History,
    // Funding Wallet, User Asset, Trade Fee (USER_DATA).
    Entry::new("GET", "/sapi/v1/asset/transfer", R, WALLET_ASSET).params(&[
        "type",
        "startTime",
        "endTime",
        "current",
        "size",
        "fromSymbol",
        "toSymbol",
    ]),
    Entry::new("POST", "/sapi/v1/asset/get-funding-asset", R, WALLET_ASSET)
        .params(&["asset", "needBtcValuation"]),
    Entry::new("POST", "/sapi/v3/asset/getUserAsset", R, WALLET_ASSET)
        .params(&["asset", "needBtcValuation"]),
    Entry::new("GET", "/sapi/v1/asset/tradeFee", R, WALLET_ASSET).params(&["symbol"]),
    // Binance Wallet docs, "Asset": Dust Transfer (USER_DATA). Small
    // balances become BNB on the same account: an in-account conversion.
    Entry::new("POST", "/sapi/v1/asset/dust", T, WALLET_ASSET).params(&["asset", "accountType"]),
    // Binance Convert docs, "Trade": Send Quote Request, Accept Quote
    // (TRADE) — the conversion stays on the account; Get Convert Trade
    // History (USER_DATA).
    Entry::new("POST", "/sapi/v1/convert/getQuote", T, CONVERT).params(&[
        "fromAsset",
        "toAsset",
        "fromAmount",
        "toAmount",
        "walletType",
        "validTime",
    ]),
    Entry::new("POST", "/sapi/v1/convert/acceptQuote", T, CONVERT).params(&["quoteId"]),
    Entry::new("GET", "/sapi/v1/convert/tradeFlow", R, CONVERT).params(&[
        "startTime",
        "endTime",
        "limit",
    ]),
    // Binance Wallet docs, "Account": Account Status, Account API Trading
    // Status (USER_DATA).
    Entry::new("GET", "/sapi/v1/account/status", R, WALLET_ACCOUNT).params(&[]),
    Entry::new(
        "GET",
        "/sapi/v1/account/apiTradingStatus",
        R,
        WALLET_ACCOUNT,
    )
    .params(&[]),
    // Binance Wallet docs, "Account": Get API Key Permission (USER_DATA)
    // — the key's own restrictions; key management, so `account-admin`.
    Entry::new("GET", "/sapi/v1/account/apiRestrictions", A, WALLET_ACCOUNT).params(&[]),
    // Binance Wallet docs, "Account": Enable Fast Withdraw Switch, Disable
    // Fast Withdraw Switch (USER_DATA): security settings.
    Entry::new(
        "POST",
        "/sapi/v1/account/enableFastWithdrawSwitch",
        A,
        WALLET_ACCOUNT,
    )
    .params(&[]),
    Entry::new(
        "POST",
        "/sapi/v1/account/disableFastWithdrawSwitch",
        A,
        WALLET_ACCOUNT,
    )
    .params(&[]),
    // Binance Sub Account docs, "Asset Management": Universal Transfer,
    // Transfer to Master, Transfer to Sub-account of Same Master, Futures
    // Transfer for Sub-account, Margin Transfer for Sub-account.
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/universalTransfer",
        W,
        SUB_ACCOUNT,
    )
    .params(&[
        "fromEmail",
        "toEmail",
        "fromAccountType",
        "toAccountType",
        "clientTranId",
        "symbol",
        "asset",
        "amount",
    ])
    .required(&["fromAccountType", "toAccountType", "asset", "amount"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/transfer/subToMaster",
        W,
        SUB_ACCOUNT,
    )
    .params(&["asset", "amount"])
    .required(&["asset", "amount"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/transfer/subToSub",
        W,
        SUB_ACCOUNT,
    )
    .params(&["toEmail", "asset", "amount"])
    .required(&["toEmail", "asset", "amount"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/futures/transfer",
        W,
        SUB_ACCOUNT,
    )
    .params(&["email", "asset", "amount", "type"])
    .required(&["email", "asset", "amount", "type"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/margin/transfer",
        W,
        SUB_ACCOUNT,
    )
    .params(&["email", "asset", "amount", "type"])
    .required(&["email", "asset", "amount", "type"]),
    // Binance Sub Account docs, "Account Management": Query Sub-account
    // List (read); Create a Virtual Sub-account, Enable Futures for
    // Sub-account, Enable Margin for Sub-account (account-admin).
    Entry::new("GET", "/sapi/v1/sub-account/list", R, SUB_ACCOUNT_MGMT)
        .params(&["email", "isFreeze", "page", "limit"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/virtualSubAccount",
        A,
        SUB_ACCOUNT_MGMT,
    )
    .params(&["subAccountString"])
    .required(&["subAccountString"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/futures/enable",
        A,
        SUB_ACCOUNT_MGMT,
    )
    .params(&["email"])
    .required(&["email"]),
    Entry::new(
        "POST",
        "/sapi/v1/sub-account/margin/enable",
        A,
        SUB_ACCOUNT_MGMT,
    )
    .params(&["email"])
    .required(&["email"]),
    // Binance Sub Account docs, "API Management": Add IP Restriction for
    // Sub-Account API key, Delete IP List For a Sub-account API Key.
    Entry::new(
        "POST",
        "/sapi/v2/sub-account/subAccountApi/ipRestriction",
        A,
        SUB_ACCOUNT_API,
    )
    .params(&["email", "subAccountApiKey", "status", "ipAddress"])
    .required(&["email", "subAccountApiKey", "status"]),
    Entry::new(
        "DELETE",
        "/sapi/v1/sub-account/subAccountApi/ipRestriction/ipList",
        A,
        SUB_ACCOUNT_API,
    )
    .params(&["email", "subAccountApiKey", "ipAddress"])
    .required(&["email", "subAccountApiKey"]),
    // Binance Margin Trading docs, "Trade": Margin Account New Order,
    // Margin Account Cancel Order (TRADE).
    Entry::new("POST", "/sapi/v1/margin/order", T, MARGIN_TRADE).params(MARGIN_ORDER),
    Entry::new("DELETE", "/sapi/v1/margin/order", T, MARGIN_TRADE).params(&[
        "symbol",
        "isIsolated",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
    ]),
    // Binance Margin Trading docs, "Account": Query Cross Margin Account
    // Details, Query Margin Account's Open Orders (USER_DATA);
    // Margin account borrow/repay (MARGIN): borrowing stays on the margin
    // account, so `trade`.
    Entry::new("GET", "/sapi/v1/margin/account", R, MARGIN_ACCOUNT).params(&[]),
    Entry::new("GET", "/sapi/v1/margin/openOrders", R, MARGIN_ACCOUNT)
        .params(&["symbol", "isIsolated"]),
    Entry::new("POST", "/sapi/v1/margin/borrow-repay", T, MARGIN_ACCOUNT).params(&[
        "asset",
        "isIsolated",
        "symbol",
        "amount",
        "type",
    ]),
    // Binance Margin Trading docs, "Transfer": Cross Margin Account
    // Transfer (MARGIN), a transfer between accounts.
    Entry::new("POST", "/sapi/v1/margin/transfer", W, MARGIN_TRANSFER)
        .params(&["asset", "amount", "type"])
        .required(&["asset", "amount", "type"]),
    // Binance USDⓈ-M Futures docs, "Account": Account Information V3,
    // Futures Account Balance V3, Position Information V3, Current All
    // Open Orders (USER_DATA).
    Entry::new("GET", "/fapi/v3/account", R, FUTURES_ACCOUNT).params(&[]),
    Entry::new("GET", "/fapi/v3/balance", R, FUTURES_ACCOUNT).params(&[]),
    Entry::new("GET", "/fapi/v3/positionRisk", R, FUTURES_ACCOUNT).params(&["symbol"]),
    Entry::new("GET", "/fapi/v1/openOrders", R, FUTURES_ACCOUNT).params(&["symbol"]),
    // Binance USDⓈ-M Futures docs, "Trade": New Order, Modify Order,
    // Cancel Order, Cancel All Open Orders, Change Initial Leverage,
    // Change Margin Type (TRADE).
    Entry::new("POST", "/fapi/v1/order", T, FUTURES_TRADE).params(FUTURES_ORDER),
    Entry::new("PUT", "/fapi/v1/order", T, FUTURES_TRADE).params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "side",
        "quantity",
        "price",
        "priceMatch",
    ]),
    Entry::new("DELETE", "/fapi/v1/order", T, FUTURES_TRADE).params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
    ]),
    Entry::new("DELETE", "/fapi/v1/allOpenOrders", T, FUTURES_TRADE).params(&["symbol"]),
    Entry::new("POST", "/fapi/v1/leverage", T, FUTURES_TRADE).params(&["symbol", "leverage"]),
    Entry::new("POST", "/fapi/v1/marginType", T, FUTURES_TRADE).params(&["symbol", "marginType"]),
];
