//! OKX v5.
//!
//! OKX signs `timestamp ‖ method ‖ path?query ‖ body`, so a signature is
//! bound to its endpoint and entries carry no parameter list. Sources: the
//! OKX API v5 documentation (www.okx.com/docs-v5/en), sections "Trading
//! Account", "Order Book Trading › Trade", "Order Book Trading › Algo
//! Trading", "Funding Account" and "Sub-account", and the v5 endpoint list
//! in ccxt's `ts/src/okx.ts` (`api` section). Our own table.

use super::entry::{A, Class, Entry, R, T, W};

const fn g(path: &'static str, class: Class, doc: &'static str) -> Entry {
    Entry::new("GET", path, class, doc)
}

const fn p(path: &'static str, class: Class, doc: &'static str) -> Entry {
    Entry::new("POST", path, class, doc)
}

pub(crate) const TABLE: &[Entry] = &[
    // OKX API v5 docs, "Public Data" and "Order Book Trading › Market
    // Data": public reads (signing them is harmless).
    g("/api/v5/public", R, "OKX API v5 docs, \"Public Data\"").prefix(),
    g(
        "/api/v5/market",
        R,
        "OKX API v5 docs, \"Order Book Trading › Market Data\"",
    )
    .prefix(),
    // OKX API v5 docs, "Order Book Trading › Trade".
    p(
        "/api/v5/trade/order",
        T,
        "OKX API v5 docs, \"Trade › POST / Place order\"",
    ),
    p(
        "/api/v5/trade/batch-orders",
        T,
        "OKX API v5 docs, \"Trade › POST / Place multiple orders\"",
    ),
    p(
        "/api/v5/trade/cancel-order",
        T,
        "OKX API v5 docs, \"Trade › POST / Cancel order\"",
    ),
    p(
        "/api/v5/trade/cancel-batch-orders",
        T,
        "OKX API v5 docs, \"Trade › POST / Cancel multiple orders\"",
    ),
    p(
        "/api/v5/trade/amend-order",
        T,
        "OKX API v5 docs, \"Trade › POST / Amend order\"",
    ),
    p(
        "/api/v5/trade/amend-batch-orders",
        T,
        "OKX API v5 docs, \"Trade › POST / Amend multiple orders\"",
    ),
    p(
        "/api/v5/trade/close-position",
        T,
        "OKX API v5 docs, \"Trade › POST / Close positions\"",
    ),
    g(
        "/api/v5/trade/order",
        R,
        "OKX API v5 docs, \"Trade › GET / Order details\"",
    ),
    g(
        "/api/v5/trade/orders-pending",
        R,
        "OKX API v5 docs, \"Trade › GET / Order List\"",
    ),
    g(
        "/api/v5/trade/orders-history",
        R,
        "OKX API v5 docs, \"Trade › GET / Order history (last 7 days)\"",
    ),
    g(
        "/api/v5/trade/orders-history-archive",
        R,
        "OKX API v5 docs, \"Trade › GET / Order history (last 3 months)\"",
    ),
    g(
        "/api/v5/trade/fills",
        R,
        "OKX API v5 docs, \"Trade › GET / Transaction details (last 3 days)\"",
    ),
    g(
        "/api/v5/trade/fills-history",
        R,
        "OKX API v5 docs, \"Trade › GET / Transaction details (last 3 months)\"",
    ),
    // OKX API v5 docs, "Order Book Trading › Algo Trading".
    p(
        "/api/v5/trade/order-algo",
        T,
        "OKX API v5 docs, \"Algo Trading › POST / Place algo order\"",
    ),
    p(
        "/api/v5/trade/cancel-algos",
        T,
        "OKX API v5 docs, \"Algo Trading › POST / Cancel algo order\"",
    ),
    p(
        "/api/v5/trade/amend-algos",
        T,
        "OKX API v5 docs, \"Algo Trading › POST / Amend algo order\"",
    ),
    g(
        "/api/v5/trade/orders-algo-pending",
        R,
        "OKX API v5 docs, \"Algo Trading › GET / Algo order list\"",
    ),
    g(
        "/api/v5/trade/orders-algo-history",
        R,
        "OKX API v5 docs, \"Algo Trading › GET / Algo order history\"",
    ),
    // OKX API v5 docs, "Trading Account".
    g(
        "/api/v5/account/balance",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Account balance\"",
    ),
    g(
        "/api/v5/account/positions",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Positions\"",
    ),
    g(
        "/api/v5/account/config",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Account configuration\"",
    ),
    g(
        "/api/v5/account/bills",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Bills details (last 7 days)\"",
    ),
    g(
        "/api/v5/account/trade-fee",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Fee rates\"",
    ),
    g(
        "/api/v5/account/max-size",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Maximum order quantity\"",
    ),
    g(
        "/api/v5/account/max-avail-size",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Maximum available balance/equity\"",
    ),
    g(
        "/api/v5/account/leverage-info",
        R,
        "OKX API v5 docs, \"Trading Account › GET / Leverage\"",
    ),
    p(
        "/api/v5/account/set-leverage",
        T,
        "OKX API v5 docs, \"Trading Account › POST / Set leverage\"",
    ),
    p(
        "/api/v5/account/set-position-mode",
        T,
        "OKX API v5 docs, \"Trading Account › POST / Set position mode\"",
    ),
    p(
        "/api/v5/account/position/margin-balance",
        T,
        "OKX API v5 docs, \"Trading Account › POST / Increase/decrease margin\"",
    ),
    // OKX API v5 docs, "Funding Account": reads.
    g(
        "/api/v5/asset/balances",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Balance\"",
    ),
    g(
        "/api/v5/asset/currencies",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Currencies\"",
    ),
    g(
        "/api/v5/asset/deposit-address",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Deposit address\"",
    ),
    g(
        "/api/v5/asset/deposit-history",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Deposit history\"",
    ),
    g(
        "/api/v5/asset/withdrawal-history",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Withdrawal history\"",
    ),
    g(
        "/api/v5/asset/transfer-state",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Get funds transfer state\"",
    ),
    g(
        "/api/v5/asset/bills",
        R,
        "OKX API v5 docs, \"Funding Account › GET / Asset bills details\"",
    ),
    // OKX API v5 docs, "Funding Account": moving funds.
    p(
        "/api/v5/asset/withdrawal",
        W,
        "OKX API v5 docs, \"Funding Account › POST / Withdrawal\"",
    ),
    p(
        "/api/v5/asset/cancel-withdrawal",
        W,
        "OKX API v5 docs, \"Funding Account › POST / Cancel withdrawal\"",
    ),
    p(
        "/api/v5/asset/transfer",
        W,
        "OKX API v5 docs, \"Funding Account › POST / Funds transfer\"",
    ),
    // OKX API v5 docs, "Funding Account › Convert" and "Convert small
    // assets": conversions stay on the account, so `trade`.
    p(
        "/api/v5/asset/convert/estimate-quote",
        T,
        "OKX API v5 docs, \"Convert › POST / Estimate quote\"",
    ),
    p(
        "/api/v5/asset/convert/trade",
        T,
        "OKX API v5 docs, \"Convert › POST / Convert trade\"",
    ),
    p(
        "/api/v5/asset/convert-dust-assets",
        T,
        "OKX API v5 docs, \"Funding Account › POST / Convert small assets\"",
    ),
    // OKX API v5 docs, "Sub-account".
    g(
        "/api/v5/users/subaccount/list",
        R,
        "OKX API v5 docs, \"Sub-account › GET / View sub-account list\"",
    ),
    p(
        "/api/v5/users/subaccount/create-subaccount",
        A,
        "OKX API v5 docs, \"Sub-account › POST / Create sub-account\"",
    ),
    p(
        "/api/v5/users/subaccount/apikey",
        A,
        "OKX API v5 docs, \"Sub-account › POST / Create an API Key for a sub-account\"",
    ),
    g(
        "/api/v5/users/subaccount/apikey",
        A,
        "OKX API v5 docs, \"Sub-account › GET / Query the API Key of a sub-account\"",
    ),
    p(
        "/api/v5/users/subaccount/modify-apikey",
        A,
        "OKX API v5 docs, \"Sub-account › POST / Reset the API Key of a sub-account\"",
    ),
    p(
        "/api/v5/users/subaccount/delete-apikey",
        A,
        "OKX API v5 docs, \"Sub-account › POST / Delete the API Key of sub-accounts\"",
    ),
    p(
        "/api/v5/users/subaccount/set-transfer-out",
        A,
        "OKX API v5 docs, \"Sub-account › POST / Set permission of transfer out\"",
    ),
    p(
        "/api/v5/asset/subaccount/transfer",
        W,
        "OKX API v5 docs, \"Sub-account › POST / Master accounts manage the transfers between sub-accounts\"",
    ),
];
