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

use super::entry::{A, Entry, R, T, W};

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

pub(crate) const TABLE: &[Entry] = &[
    // Binance Spot API docs, "Account Endpoints": Account information,
    // Query order, Current open orders, All orders, Account trade list,
    // Query Unfilled Order Count, Query Commission Rates (USER_DATA).
    Entry::new("GET", "/api/v3/account", R, "Binance Spot API docs, \"Account Endpoints › Account information (USER_DATA)\"").params(&["omitZeroBalances"]),
    Entry::new("GET", "/api/v3/order", R, "Binance Spot API docs, \"Account Endpoints › Query order (USER_DATA)\"").params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
    ]),
    Entry::new("GET", "/api/v3/openOrders", R, "Binance Spot API docs, \"Account Endpoints › Current open orders (USER_DATA)\"").params(&["symbol"]),
    Entry::new("GET", "/api/v3/allOrders", R, "Binance Spot API docs, \"Account Endpoints › All orders (USER_DATA)\"").params(&[
        "symbol",
        "orderId",
        "startTime",
        "endTime",
        "limit",
    ]),
    Entry::new("GET", "/api/v3/myTrades", R, "Binance Spot API docs, \"Account Endpoints › Account trade list (USER_DATA)\"").params(&[
        "symbol",
        "orderId",
        "startTime",
        "endTime",
        "fromId",
        "limit",
    ]),
    Entry::new("GET", "/api/v3/rateLimit/order", R, "Binance Spot API docs, \"Account Endpoints › Query Unfilled Order Count (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/api/v3/account/commission", R, "Binance Spot API docs, \"Account Endpoints › Query Commission Rates (USER_DATA)\"").params(&["symbol"]),
    // Binance Spot API docs, "Trading Endpoints": New order, Test new
    // order, Cancel order, Cancel all open orders on a symbol, Cancel an
    // existing order and send a new order, Order amend keep priority, New
    // order list - OCO, Cancel order list (TRADE).
    Entry::new("POST", "/api/v3/order", T, "Binance Spot API docs, \"Trading Endpoints › New order (TRADE)\"").params(NEW_ORDER),
    Entry::new("POST", "/api/v3/order/test", T, "Binance Spot API docs, \"Trading Endpoints › Test new order (TRADE)\"").params(TEST_ORDER),
    Entry::new("DELETE", "/api/v3/order", T, "Binance Spot API docs, \"Trading Endpoints › Cancel order (TRADE)\"").params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
        "cancelRestrictions",
    ]),
    Entry::new("DELETE", "/api/v3/openOrders", T, "Binance Spot API docs, \"Trading Endpoints › Cancel All Open Orders on a Symbol (TRADE)\"").params(&["symbol"]),
    Entry::new("POST", "/api/v3/order/cancelReplace", T, "Binance Spot API docs, \"Trading Endpoints › Cancel an Existing Order and Send a New Order (TRADE)\"").params(CANCEL_REPLACE),
    Entry::new("PUT", "/api/v3/order/amend/keepPriority", T, "Binance Spot API docs, \"Trading Endpoints › Order Amend Keep Priority (TRADE)\"").params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
        "newQty",
    ]),
    Entry::new("POST", "/api/v3/orderList/oco", T, "Binance Spot API docs, \"Trading Endpoints › New Order list - OCO (TRADE)\"").params(OCO),
    Entry::new("DELETE", "/api/v3/orderList", T, "Binance Spot API docs, \"Trading Endpoints › Cancel Order list (TRADE)\"").params(&[
        "symbol",
        "orderListId",
        "listClientOrderId",
        "newClientOrderId",
    ]),
    // Binance Wallet docs, "Capital": Withdraw (USER_DATA).
    Entry::new("POST", "/sapi/v1/capital/withdraw/apply", W, "Binance Wallet docs, \"Capital › Withdraw (USER_DATA)\"")
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
    Entry::new("GET", "/sapi/v1/capital/withdraw/history", R, "Binance Wallet docs, \"Capital › Withdraw History (supporting network) (USER_DATA)\"")
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
    Entry::new("GET", "/sapi/v1/capital/deposit/hisrec", R, "Binance Wallet docs, \"Capital › Deposit History (supporting network) (USER_DATA)\"").params(&[
        "includeSource",
        "coin",
        "status",
        "startTime",
        "endTime",
        "offset",
        "limit",
        "txId",
    ]),
    Entry::new("GET", "/sapi/v1/capital/config/getall", R, "Binance Wallet docs, \"Capital › All Coins' Information (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/sapi/v1/capital/withdraw/address/list", R, "Binance Wallet docs, \"Capital › Fetch withdraw address list (USER_DATA)\"")
    .params(&[]),
    // Binance Wallet docs, "Capital": Deposit Address (supporting network)
    // (USER_DATA). It returns the account's own address to receive funds
    // (creating it on first use): nothing leaves the account, so `read`.
    Entry::new("GET", "/sapi/v1/capital/deposit/address", R, "Binance Wallet docs, \"Capital › Deposit Address (supporting network) (USER_DATA)\"")
        .params(&["coin", "network", "amount"]),
    // Binance Wallet docs, "Asset": User Universal Transfer (USER_DATA).
    Entry::new("POST", "/sapi/v1/asset/transfer", W, "Binance Wallet docs, \"Asset › User Universal Transfer (USER_DATA)\"")
        .params(&["type", "asset", "amount", "fromSymbol", "toSymbol"])
        .required(&["type", "asset", "amount"]),
    // Binance Wallet docs, "Asset": Query User Universal Transfer History,
    // Funding Wallet, User Asset, Trade Fee (USER_DATA).
    Entry::new("GET", "/sapi/v1/asset/transfer", R, "Binance Wallet docs, \"Asset › Query User Universal Transfer History (USER_DATA)\"").params(&[
        "type",
        "startTime",
        "endTime",
        "current",
        "size",
        "fromSymbol",
        "toSymbol",
    ]),
    Entry::new("POST", "/sapi/v1/asset/get-funding-asset", R, "Binance Wallet docs, \"Asset › Funding Wallet (USER_DATA)\"")
        .params(&["asset", "needBtcValuation"]),
    Entry::new("POST", "/sapi/v3/asset/getUserAsset", R, "Binance Wallet docs, \"Asset › User Asset (USER_DATA)\"")
        .params(&["asset", "needBtcValuation"]),
    Entry::new("GET", "/sapi/v1/asset/tradeFee", R, "Binance Wallet docs, \"Asset › Trade Fee (USER_DATA)\"").params(&["symbol"]),
    // Binance Wallet docs, "Asset": Dust Transfer (USER_DATA). Small
    // balances become BNB on the same account: an in-account conversion.
    Entry::new("POST", "/sapi/v1/asset/dust", T, "Binance Wallet docs, \"Asset › Dust Transfer (USER_DATA)\"").params(&["asset", "accountType"]),
    // Binance Convert docs, "Trade": Send Quote Request, Accept Quote
    // (TRADE) — the conversion stays on the account; Get Convert Trade
    // History (USER_DATA).
    Entry::new("POST", "/sapi/v1/convert/getQuote", T, "Binance Convert docs, \"Trade › Send Quote Request (USER_DATA)\"").params(&[
        "fromAsset",
        "toAsset",
        "fromAmount",
        "toAmount",
        "walletType",
        "validTime",
    ]),
    Entry::new("POST", "/sapi/v1/convert/acceptQuote", T, "Binance Convert docs, \"Trade › Accept Quote (TRADE)\"").params(&["quoteId"]),
    Entry::new("GET", "/sapi/v1/convert/tradeFlow", R, "Binance Convert docs, \"Trade › Get Convert Trade History (USER_DATA)\"").params(&[
        "startTime",
        "endTime",
        "limit",
    ]),
    // Binance Wallet docs, "Account": Account Status, Account API Trading
    // Status (USER_DATA).
    Entry::new("GET", "/sapi/v1/account/status", R, "Binance Wallet docs, \"Account › Account Status (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/sapi/v1/account/apiTradingStatus", R, "Binance Wallet docs, \"Account › Account API Trading Status (USER_DATA)\"")
    .params(&[]),
    // Binance Wallet docs, "Account": Get API Key Permission (USER_DATA)
    // — reads the calling key's own restrictions (bots check them at
    // start); it manages nothing, so `read`.
    Entry::new("GET", "/sapi/v1/account/apiRestrictions", R, "Binance Wallet docs, \"Account › Get API Key Permission (USER_DATA)\"").params(&[]),
    // Binance Wallet docs, "Account": Enable Fast Withdraw Switch, Disable
    // Fast Withdraw Switch (USER_DATA): security settings.
    Entry::new("POST", "/sapi/v1/account/enableFastWithdrawSwitch", A, "Binance Wallet docs, \"Account › Enable Fast Withdraw Switch (USER_DATA)\"")
    .params(&[]),
    Entry::new("POST", "/sapi/v1/account/disableFastWithdrawSwitch", A, "Binance Wallet docs, \"Account › Disable Fast Withdraw Switch (USER_DATA)\"")
    .params(&[]),
    // Binance Sub Account docs, "Asset Management": Universal Transfer,
    // Transfer to Master, Transfer to Sub-account of Same Master, Futures
    // Transfer for Sub-account, Margin Transfer for Sub-account.
    Entry::new("POST", "/sapi/v1/sub-account/universalTransfer", W, "Binance Sub Account docs, \"Asset Management › Universal Transfer (For Master Account)\"")
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
    Entry::new("POST", "/sapi/v1/sub-account/transfer/subToMaster", W, "Binance Sub Account docs, \"Asset Management › Transfer to Master (For Sub-account)\"")
    .params(&["asset", "amount"])
    .required(&["asset", "amount"]),
    Entry::new("POST", "/sapi/v1/sub-account/transfer/subToSub", W, "Binance Sub Account docs, \"Asset Management › Transfer to Sub-account of Same Master (For Sub-account)\"")
    .params(&["toEmail", "asset", "amount"])
    .required(&["toEmail", "asset", "amount"]),
    Entry::new("POST", "/sapi/v1/sub-account/futures/transfer", W, "Binance Sub Account docs, \"Asset Management › Futures Transfer for Sub-account (For Master Account)\"")
    .params(&["email", "asset", "amount", "type"])
    .required(&["email", "asset", "amount", "type"]),
    Entry::new("POST", "/sapi/v1/sub-account/margin/transfer", W, "Binance Sub Account docs, \"Asset Management › Margin Transfer for Sub-account (For Master Account)\"")
    .params(&["email", "asset", "amount", "type"])
    .required(&["email", "asset", "amount", "type"]),
    // Binance Sub Account docs, "Account Management": Query Sub-account
    // List (read); Create a Virtual Sub-account, Enable Futures for
    // Sub-account, Enable Margin for Sub-account (account-admin).
    Entry::new("GET", "/sapi/v1/sub-account/list", R, "Binance Sub Account docs, \"Account Management › Query Sub-account List (For Master Account)\"")
        .params(&["email", "isFreeze", "page", "limit"]),
    Entry::new("POST", "/sapi/v1/sub-account/virtualSubAccount", A, "Binance Sub Account docs, \"Account Management › Create a Virtual Sub-account (For Master Account)\"")
    .params(&["subAccountString"])
    .required(&["subAccountString"]),
    Entry::new("POST", "/sapi/v1/sub-account/futures/enable", A, "Binance Sub Account docs, \"Account Management › Enable Futures for Sub-account (For Master Account)\"")
    .params(&["email"])
    .required(&["email"]),
    Entry::new("POST", "/sapi/v1/sub-account/margin/enable", A, "Binance Sub Account docs, \"Account Management › Enable Margin for Sub-account (For Master Account)\"")
    .params(&["email"])
    .required(&["email"]),
    // Binance Sub Account docs, "API Management": Add IP Restriction for
    // Sub-Account API key, Delete IP List For a Sub-account API Key.
    Entry::new("POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction", A, "Binance Sub Account docs, \"API Management › Add IP Restriction for Sub-Account API key (For Master Account)\"")
    .params(&["email", "subAccountApiKey", "status", "ipAddress"])
    .required(&["email", "subAccountApiKey", "status"]),
    Entry::new("DELETE", "/sapi/v1/sub-account/subAccountApi/ipRestriction/ipList", A, "Binance Sub Account docs, \"API Management › Delete IP List For a Sub-account API Key (For Master Account)\"")
    .params(&["email", "subAccountApiKey", "ipAddress"])
    .required(&["email", "subAccountApiKey"]),
    // Binance Margin Trading docs, "Trade": Margin Account New Order,
    // Margin Account Cancel Order (TRADE).
    Entry::new("POST", "/sapi/v1/margin/order", T, "Binance Margin Trading docs, \"Trade › Margin Account New Order (TRADE)\"").params(MARGIN_ORDER),
    Entry::new("DELETE", "/sapi/v1/margin/order", T, "Binance Margin Trading docs, \"Trade › Margin Account Cancel Order (TRADE)\"").params(&[
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
    Entry::new("GET", "/sapi/v1/margin/account", R, "Binance Margin Trading docs, \"Account › Query Cross Margin Account Details (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/sapi/v1/margin/openOrders", R, "Binance Margin Trading docs, \"Trade › Query Margin Account's Open Orders (USER_DATA)\"")
        .params(&["symbol", "isIsolated"]),
    Entry::new("POST", "/sapi/v1/margin/borrow-repay", T, "Binance Margin Trading docs, \"Borrow and Repay › Margin account borrow/repay (MARGIN)\"").params(&[
        "asset",
        "isIsolated",
        "symbol",
        "amount",
        "type",
    ]),
    // Binance Margin Trading docs, "Transfer": Cross Margin Account
    // Transfer (MARGIN), a transfer between accounts.
    Entry::new("POST", "/sapi/v1/margin/transfer", W, "Binance Margin Trading docs, \"Transfer › Cross Margin Account Transfer (MARGIN)\"")
        .params(&["asset", "amount", "type"])
        .required(&["asset", "amount", "type"]),
    // Binance USDⓈ-M Futures docs, "Account": Account Information V3,
    // Futures Account Balance V3, Position Information V3, Current All
    // Open Orders (USER_DATA).
    Entry::new("GET", "/fapi/v3/account", R, "Binance USDⓈ-M Futures docs, \"Account › Account Information V3 (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/fapi/v3/balance", R, "Binance USDⓈ-M Futures docs, \"Account › Futures Account Balance V3 (USER_DATA)\"").params(&[]),
    Entry::new("GET", "/fapi/v3/positionRisk", R, "Binance USDⓈ-M Futures docs, \"Trade › Position Information V3 (USER_DATA)\"").params(&["symbol"]),
    Entry::new("GET", "/fapi/v1/openOrders", R, "Binance USDⓈ-M Futures docs, \"Trade › Current All Open Orders (USER_DATA)\"").params(&["symbol"]),
    // Binance USDⓈ-M Futures docs, "Trade": New Order, Modify Order,
    // Cancel Order, Cancel All Open Orders, Change Initial Leverage,
    // Change Margin Type (TRADE).
    Entry::new("POST", "/fapi/v1/order", T, "Binance USDⓈ-M Futures docs, \"Trade › New Order (TRADE)\"").params(FUTURES_ORDER),
    Entry::new("PUT", "/fapi/v1/order", T, "Binance USDⓈ-M Futures docs, \"Trade › Modify Order (TRADE)\"").params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
        "side",
        "quantity",
        "price",
        "priceMatch",
    ]),
    Entry::new("DELETE", "/fapi/v1/order", T, "Binance USDⓈ-M Futures docs, \"Trade › Cancel Order (TRADE)\"").params(&[
        "symbol",
        "orderId",
        "origClientOrderId",
    ]),
    Entry::new("DELETE", "/fapi/v1/allOpenOrders", T, "Binance USDⓈ-M Futures docs, \"Trade › Cancel All Open Orders (TRADE)\"").params(&["symbol"]),
    Entry::new("POST", "/fapi/v1/leverage", T, "Binance USDⓈ-M Futures docs, \"Trade › Change Initial Leverage (TRADE)\"").params(&["symbol", "leverage"]),
    Entry::new("POST", "/fapi/v1/marginType", T, "Binance USDⓈ-M Futures docs, \"Trade › Change Margin Type (TRADE)\"").params(&["symbol", "marginType"]),
];
