//! Kraken spot private REST (`/0/private/...`, all POST).
//!
//! Kraken signs the path (and a hash of nonce and body), so a signature is
//! bound to its endpoint and entries carry no parameter list. Sources:
//! Kraken's "Spot REST API" documentation (docs.kraken.com), sections
//! "Account Data", "Trading", "Funding", "Subaccounts" and "Earn", and the
//! private endpoint list in ccxt's `ts/src/kraken.ts` (`api` section). Our
//! own table.

use super::entry::{A, Entry, R, T, W};

const fn k(path: &'static str, class: super::entry::Class, doc: &'static str) -> Entry {
    Entry::new("POST", path, class, doc)
}

pub(crate) const TABLE: &[Entry] = &[
    // Kraken Spot REST API, "Account Data".
    k(
        "/0/private/Balance",
        R,
        "Kraken Spot REST API, \"Account Data › Get Account Balance\"",
    ),
    k(
        "/0/private/BalanceEx",
        R,
        "Kraken Spot REST API, \"Account Data › Get Extended Balance\"",
    ),
    k(
        "/0/private/TradeBalance",
        R,
        "Kraken Spot REST API, \"Account Data › Get Trade Balance\"",
    ),
    k(
        "/0/private/OpenOrders",
        R,
        "Kraken Spot REST API, \"Account Data › Get Open Orders\"",
    ),
    k(
        "/0/private/ClosedOrders",
        R,
        "Kraken Spot REST API, \"Account Data › Get Closed Orders\"",
    ),
    k(
        "/0/private/QueryOrders",
        R,
        "Kraken Spot REST API, \"Account Data › Query Orders Info\"",
    ),
    k(
        "/0/private/TradesHistory",
        R,
        "Kraken Spot REST API, \"Account Data › Get Trades History\"",
    ),
    k(
        "/0/private/QueryTrades",
        R,
        "Kraken Spot REST API, \"Account Data › Query Trades Info\"",
    ),
    k(
        "/0/private/OpenPositions",
        R,
        "Kraken Spot REST API, \"Account Data › Get Open Positions\"",
    ),
    k(
        "/0/private/Ledgers",
        R,
        "Kraken Spot REST API, \"Account Data › Get Ledgers Info\"",
    ),
    k(
        "/0/private/QueryLedgers",
        R,
        "Kraken Spot REST API, \"Account Data › Query Ledgers\"",
    ),
    k(
        "/0/private/TradeVolume",
        R,
        "Kraken Spot REST API, \"Account Data › Get Trade Volume\"",
    ),
    k(
        "/0/private/AddExport",
        R,
        "Kraken Spot REST API, \"Account Data › Request Export Report\"",
    ),
    k(
        "/0/private/ExportStatus",
        R,
        "Kraken Spot REST API, \"Account Data › Get Export Report Status\"",
    ),
    k(
        "/0/private/RetrieveExport",
        R,
        "Kraken Spot REST API, \"Account Data › Retrieve Data Export\"",
    ),
    k(
        "/0/private/RemoveExport",
        R,
        "Kraken Spot REST API, \"Account Data › Delete Export Report\"",
    ),
    // Kraken Spot REST API, "Trading". The WebSockets token lets its holder
    // place orders over the WebSocket API: `trade`.
    k(
        "/0/private/AddOrder",
        T,
        "Kraken Spot REST API, \"Trading › Add Order\"",
    ),
    k(
        "/0/private/AddOrderBatch",
        T,
        "Kraken Spot REST API, \"Trading › Add Order Batch\"",
    ),
    k(
        "/0/private/AmendOrder",
        T,
        "Kraken Spot REST API, \"Trading › Amend Order\"",
    ),
    k(
        "/0/private/EditOrder",
        T,
        "Kraken Spot REST API, \"Trading › Edit Order\"",
    ),
    k(
        "/0/private/CancelOrder",
        T,
        "Kraken Spot REST API, \"Trading › Cancel Order\"",
    ),
    k(
        "/0/private/CancelAll",
        T,
        "Kraken Spot REST API, \"Trading › Cancel All Orders\"",
    ),
    k(
        "/0/private/CancelAllOrdersAfter",
        T,
        "Kraken Spot REST API, \"Trading › Cancel All Orders After X\"",
    ),
    k(
        "/0/private/CancelOrderBatch",
        T,
        "Kraken Spot REST API, \"Trading › Cancel Order Batch\"",
    ),
    k(
        "/0/private/GetWebSocketsToken",
        T,
        "Kraken Spot REST API, \"Trading › Get Websockets Token\"",
    ),
    // Kraken Spot REST API, "Funding": reads.
    k(
        "/0/private/DepositMethods",
        R,
        "Kraken Spot REST API, \"Funding › Get Deposit Methods\"",
    ),
    k(
        "/0/private/DepositStatus",
        R,
        "Kraken Spot REST API, \"Funding › Get Status of Recent Deposits\"",
    ),
    k(
        "/0/private/WithdrawMethods",
        R,
        "Kraken Spot REST API, \"Funding › Get Withdrawal Methods\"",
    ),
    k(
        "/0/private/WithdrawAddresses",
        R,
        "Kraken Spot REST API, \"Funding › Get Withdrawal Addresses\"",
    ),
    k(
        "/0/private/WithdrawInfo",
        R,
        "Kraken Spot REST API, \"Funding › Get Withdrawal Information\"",
    ),
    k(
        "/0/private/WithdrawStatus",
        R,
        "Kraken Spot REST API, \"Funding › Get Status of Recent Withdrawals\"",
    ),
    // Kraken Spot REST API, "Funding": moving funds. DepositAddresses
    // creates an address with `new=true`; the whole endpoint is `withdraw`
    // (a path table cannot see the parameter, and Kraken signs the path).
    k(
        "/0/private/Withdraw",
        W,
        "Kraken Spot REST API, \"Funding › Withdraw Funds\"",
    ),
    k(
        "/0/private/WithdrawCancel",
        W,
        "Kraken Spot REST API, \"Funding › Request Withdrawal Cancellation\"",
    ),
    k(
        "/0/private/DepositAddresses",
        W,
        "Kraken Spot REST API, \"Funding › Get Deposit Addresses\"",
    ),
    k(
        "/0/private/WalletTransfer",
        W,
        "Kraken Spot REST API, \"Funding › Request Wallet Transfer\"",
    ),
    // Kraken Spot REST API, "Subaccounts".
    k(
        "/0/private/CreateSubaccount",
        A,
        "Kraken Spot REST API, \"Subaccounts › Create Subaccount\"",
    ),
    k(
        "/0/private/AccountTransfer",
        W,
        "Kraken Spot REST API, \"Subaccounts › Account Transfer\"",
    ),
    // Kraken Spot REST API, "Earn": allocating moves funds into an earn
    // strategy (locked for bonded ones), so `withdraw`; the rest reads.
    k(
        "/0/private/Earn/Allocate",
        W,
        "Kraken Spot REST API, \"Earn › Allocate Earn Funds\"",
    ),
    k(
        "/0/private/Earn/Deallocate",
        W,
        "Kraken Spot REST API, \"Earn › Deallocate Earn Funds\"",
    ),
    k(
        "/0/private/Earn/AllocateStatus",
        R,
        "Kraken Spot REST API, \"Earn › Get Allocation Status\"",
    ),
    k(
        "/0/private/Earn/DeallocateStatus",
        R,
        "Kraken Spot REST API, \"Earn › Get Deallocation Status\"",
    ),
    k(
        "/0/private/Earn/Strategies",
        R,
        "Kraken Spot REST API, \"Earn › List Earn Strategies\"",
    ),
    k(
        "/0/private/Earn/Allocations",
        R,
        "Kraken Spot REST API, \"Earn › List Earn Allocations\"",
    ),
];
