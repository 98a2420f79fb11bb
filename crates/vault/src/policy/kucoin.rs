//! KuCoin (spot REST, API key version 2).
//!
//! KuCoin signs `timestamp ‖ method ‖ path?query ‖ body`, so a signature is
//! bound to its endpoint and entries carry no parameter list. Sources: the
//! KuCoin API documentation (www.kucoin.com/docs-new), sections "Account
//! Info", "Spot Trading", "Funding"/"Deposit"/"Withdrawals", "Transfer" and
//! "Sub Account", and the endpoint list in ccxt's `ts/src/kucoin.ts` (`api`
//! section). Our own table.

use super::entry::{A, Class, Entry, R, T, W};

const fn e(method: &'static str, path: &'static str, class: Class, doc: &'static str) -> Entry {
    Entry::new(method, path, class, doc)
}

pub(crate) const TABLE: &[Entry] = &[
    // KuCoin API docs, "Account Info".
    e(
        "GET",
        "/api/v1/accounts",
        R,
        "KuCoin API docs, \"Account Info › Get Account List - Spot\"",
    ),
    e(
        "GET",
        "/api/v1/accounts/{accountId}",
        R,
        "KuCoin API docs, \"Account Info › Get Account Detail - Spot\"",
    ),
    e(
        "GET",
        "/api/v1/accounts/ledgers",
        R,
        "KuCoin API docs, \"Account Info › Get Account Ledgers - Spot/Margin\"",
    ),
    e(
        "GET",
        "/api/v2/user-info",
        R,
        "KuCoin API docs, \"Account Info › Get Account Summary Info\"",
    ),
    // KuCoin API docs, "Spot Trading › Orders".
    e(
        "POST",
        "/api/v1/orders",
        T,
        "KuCoin API docs, \"Spot Trading › Add Order (old version)\"",
    ),
    e(
        "GET",
        "/api/v1/orders",
        R,
        "KuCoin API docs, \"Spot Trading › Get Order List (old version)\"",
    ),
    e(
        "GET",
        "/api/v1/orders/{orderId}",
        R,
        "KuCoin API docs, \"Spot Trading › Get Order By OrderId (old version)\"",
    ),
    e(
        "DELETE",
        "/api/v1/orders/{orderId}",
        T,
        "KuCoin API docs, \"Spot Trading › Cancel Order By OrderId (old version)\"",
    ),
    e(
        "DELETE",
        "/api/v1/orders",
        T,
        "KuCoin API docs, \"Spot Trading › Cancel All Orders (old version)\"",
    ),
    e(
        "GET",
        "/api/v1/fills",
        R,
        "KuCoin API docs, \"Spot Trading › Get Trade History (old version)\"",
    ),
    e(
        "POST",
        "/api/v1/hf/orders",
        T,
        "KuCoin API docs, \"Spot Trading › Add Order\"",
    ),
    e(
        "POST",
        "/api/v1/hf/orders/alter",
        T,
        "KuCoin API docs, \"Spot Trading › Modify Order\"",
    ),
    e(
        "DELETE",
        "/api/v1/hf/orders/{orderId}",
        T,
        "KuCoin API docs, \"Spot Trading › Cancel Order By OrderId\"",
    ),
    e(
        "GET",
        "/api/v1/hf/orders/active",
        R,
        "KuCoin API docs, \"Spot Trading › Get Open Orders\"",
    ),
    e(
        "GET",
        "/api/v1/hf/fills",
        R,
        "KuCoin API docs, \"Spot Trading › Get Trade History\"",
    ),
    // KuCoin API docs, "Deposit" and "Withdrawals": reads.
    e(
        "GET",
        "/api/v1/deposits",
        R,
        "KuCoin API docs, \"Deposit › Get Deposit History\"",
    ),
    e(
        "GET",
        "/api/v3/deposit-addresses",
        R,
        "KuCoin API docs, \"Deposit › Get Deposit Address (V3)\"",
    ),
    e(
        "GET",
        "/api/v1/withdrawals",
        R,
        "KuCoin API docs, \"Withdrawals › Get Withdrawal History\"",
    ),
    e(
        "GET",
        "/api/v1/withdrawals/quotas",
        R,
        "KuCoin API docs, \"Withdrawals › Get Withdrawal Quotas\"",
    ),
    // KuCoin API docs, "Deposit" and "Withdrawals": creating deposit
    // addresses and withdrawing.
    e(
        "POST",
        "/api/v1/deposit-addresses",
        W,
        "KuCoin API docs, \"Deposit › Add Deposit Address (V1)\"",
    ),
    e(
        "POST",
        "/api/v3/deposit-address/create",
        W,
        "KuCoin API docs, \"Deposit › Add Deposit Address (V3)\"",
    ),
    e(
        "POST",
        "/api/v1/withdrawals",
        W,
        "KuCoin API docs, \"Withdrawals › Withdraw (V1)\"",
    ),
    e(
        "POST",
        "/api/v3/withdrawals",
        W,
        "KuCoin API docs, \"Withdrawals › Withdraw (V3)\"",
    ),
    e(
        "DELETE",
        "/api/v1/withdrawals/{withdrawalId}",
        W,
        "KuCoin API docs, \"Withdrawals › Cancel Withdrawal\"",
    ),
    // KuCoin API docs, "Transfer".
    e(
        "POST",
        "/api/v2/accounts/inner-transfer",
        W,
        "KuCoin API docs, \"Transfer › Inner Transfer\"",
    ),
    e(
        "POST",
        "/api/v2/accounts/sub-transfer",
        W,
        "KuCoin API docs, \"Transfer › SubAccount Transfer\"",
    ),
    e(
        "POST",
        "/api/v3/accounts/universal-transfer",
        W,
        "KuCoin API docs, \"Transfer › Flex Transfer\"",
    ),
    // KuCoin API docs, "Sub Account".
    e(
        "GET",
        "/api/v1/sub/user",
        R,
        "KuCoin API docs, \"Sub Account › Get SubAccount List - Summary Info (V1)\"",
    ),
    e(
        "GET",
        "/api/v2/sub/user",
        R,
        "KuCoin API docs, \"Sub Account › Get SubAccount List - Summary Info\"",
    ),
    e(
        "POST",
        "/api/v2/sub/user/created",
        A,
        "KuCoin API docs, \"Sub Account › Add SubAccount\"",
    ),
    e(
        "GET",
        "/api/v1/sub/api-key",
        A,
        "KuCoin API docs, \"Sub Account › Get SubAccount API List\"",
    ),
    e(
        "POST",
        "/api/v1/sub/api-key",
        A,
        "KuCoin API docs, \"Sub Account › Add SubAccount API\"",
    ),
    e(
        "POST",
        "/api/v1/sub/api-key/update",
        A,
        "KuCoin API docs, \"Sub Account › Modify SubAccount API\"",
    ),
    e(
        "DELETE",
        "/api/v1/sub/api-key",
        A,
        "KuCoin API docs, \"Sub Account › Delete SubAccount API\"",
    ),
];
