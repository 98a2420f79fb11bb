//! Coinbase: Advanced Trade (`/api/v3/brokerage`) and the v2 App API.
//!
//! The JWT's `uri` claim binds the signature to method and path (not to
//! query or body), so entries carry no parameter list. `{id}` segments
//! match one id of `A-Z a-z 0-9 -`. Sources: the Coinbase Developer
//! Platform documentation (docs.cdp.coinbase.com), "Advanced Trade API ›
//! REST API" (Accounts, Orders, Portfolios, Convert, Fees, Products,
//! Futures) and "Coinbase App › Track API" (Accounts, Addresses,
//! Transactions, Withdrawals, Deposits), and ccxt's `ts/src/coinbase.ts`
//! (`api` section). Our own table.

use super::entry::{A, Class, Entry, R, T, W};

const fn e(method: &'static str, path: &'static str, class: Class, doc: &'static str) -> Entry {
    Entry::new(method, path, class, doc)
}

pub(crate) const TABLE: &[Entry] = &[
    // Coinbase Advanced Trade API, "Accounts", "Fees", "Products".
    e(
        "GET",
        "/api/v3/brokerage/accounts",
        R,
        "Coinbase Advanced Trade API, \"Accounts › List Accounts\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/accounts/{account_uuid}",
        R,
        "Coinbase Advanced Trade API, \"Accounts › Get Account\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/transaction_summary",
        R,
        "Coinbase Advanced Trade API, \"Fees › Get Transaction Summary\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/products",
        R,
        "Coinbase Advanced Trade API, \"Products\"",
    )
    .prefix(),
    e(
        "GET",
        "/api/v3/brokerage/best_bid_ask",
        R,
        "Coinbase Advanced Trade API, \"Products › Get Best Bid/Ask\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/payment_methods",
        R,
        "Coinbase Advanced Trade API, \"Payment Methods › List Payment Methods\"",
    ),
    // The calling key's own permissions (bots check them at start):
    // `read`.
    e(
        "GET",
        "/api/v3/brokerage/key_permissions",
        R,
        "Coinbase Advanced Trade API, \"Data API › Get API Key Permissions\"",
    ),
    // Coinbase Advanced Trade API, "Orders".
    e(
        "POST",
        "/api/v3/brokerage/orders",
        T,
        "Coinbase Advanced Trade API, \"Orders › Create Order\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/orders/batch_cancel",
        T,
        "Coinbase Advanced Trade API, \"Orders › Cancel Orders\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/orders/edit",
        T,
        "Coinbase Advanced Trade API, \"Orders › Edit Order\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/orders/edit_preview",
        T,
        "Coinbase Advanced Trade API, \"Orders › Edit Order Preview\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/orders/preview",
        T,
        "Coinbase Advanced Trade API, \"Orders › Preview Order\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/orders/close_position",
        T,
        "Coinbase Advanced Trade API, \"Orders › Close Position\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/orders/historical",
        R,
        "Coinbase Advanced Trade API, \"Orders › List Orders, List Fills, Get Order\"",
    )
    .prefix(),
    // Coinbase Advanced Trade API, "Convert": between the user's own
    // accounts (e.g. USD to USDC), so `trade`.
    e(
        "POST",
        "/api/v3/brokerage/convert/quote",
        T,
        "Coinbase Advanced Trade API, \"Convert › Create Convert Quote\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/convert/trade/{trade_id}",
        T,
        "Coinbase Advanced Trade API, \"Convert › Commit Convert Trade\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/convert/trade/{trade_id}",
        R,
        "Coinbase Advanced Trade API, \"Convert › Get Convert Trade\"",
    ),
    // Coinbase Advanced Trade API, "Portfolios": moving funds between
    // portfolios is `withdraw`; creating, editing, deleting them is
    // account structure, `account-admin`.
    e(
        "GET",
        "/api/v3/brokerage/portfolios",
        R,
        "Coinbase Advanced Trade API, \"Portfolios › List Portfolios\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/portfolios/{portfolio_uuid}",
        R,
        "Coinbase Advanced Trade API, \"Portfolios › Get Portfolio Breakdown\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/portfolios/move_funds",
        W,
        "Coinbase Advanced Trade API, \"Portfolios › Move Portfolio Funds\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/portfolios",
        A,
        "Coinbase Advanced Trade API, \"Portfolios › Create Portfolio\"",
    ),
    e(
        "PUT",
        "/api/v3/brokerage/portfolios/{portfolio_uuid}",
        A,
        "Coinbase Advanced Trade API, \"Portfolios › Edit Portfolio\"",
    ),
    e(
        "DELETE",
        "/api/v3/brokerage/portfolios/{portfolio_uuid}",
        A,
        "Coinbase Advanced Trade API, \"Portfolios › Delete Portfolio\"",
    ),
    // Coinbase Advanced Trade API, "Futures": sweeps move futures funds
    // to the spot account.
    e(
        "GET",
        "/api/v3/brokerage/cfm/balance_summary",
        R,
        "Coinbase Advanced Trade API, \"Futures › Get Futures Balance Summary\"",
    ),
    e(
        "GET",
        "/api/v3/brokerage/cfm/positions",
        R,
        "Coinbase Advanced Trade API, \"Futures › List Futures Positions\"",
    ),
    e(
        "POST",
        "/api/v3/brokerage/cfm/sweeps/schedule",
        W,
        "Coinbase Advanced Trade API, \"Futures › Schedule Futures Sweep\"",
    ),
    // Coinbase App API (v2), "Accounts", "Addresses", "Transactions",
    // "Withdrawals", "Deposits".
    e(
        "GET",
        "/v2/user",
        R,
        "Coinbase App API, \"Users › Show Current User\"",
    ),
    e(
        "GET",
        "/v2/accounts",
        R,
        "Coinbase App API, \"Accounts › List Accounts\"",
    ),
    e(
        "GET",
        "/v2/accounts/{account_id}",
        R,
        "Coinbase App API, \"Accounts › Show Account\"",
    ),
    e(
        "GET",
        "/v2/accounts/{account_id}/transactions",
        R,
        "Coinbase App API, \"Transactions › List Transactions\"",
    ),
    e(
        "POST",
        "/v2/accounts/{account_id}/transactions",
        W,
        "Coinbase App API, \"Transactions › Send Money / Transfer Money\"",
    ),
    e(
        "GET",
        "/v2/accounts/{account_id}/addresses",
        R,
        "Coinbase App API, \"Addresses › List Addresses\"",
    ),
    e(
        "POST",
        "/v2/accounts/{account_id}/addresses",
        W,
        "Coinbase App API, \"Addresses › Create Address\"",
    ),
    e(
        "POST",
        "/v2/accounts/{account_id}/withdrawals",
        W,
        "Coinbase App API, \"Withdrawals › Withdraw Funds\"",
    ),
    e(
        "POST",
        "/v2/accounts/{account_id}/withdrawals/{withdrawal_id}/commit",
        W,
        "Coinbase App API, \"Withdrawals › Commit Withdrawal\"",
    ),
    e(
        "POST",
        "/v2/accounts/{account_id}/deposits",
        W,
        "Coinbase App API, \"Deposits › Deposit Funds\"",
    ),
];
