//! The id of the request being served: every audit record written while
//! serving it, and every problem answer, carries it (returned to the client
//! as `X-Request-Id`), so a user reporting an error names the log lines.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request this task serves, if any.
pub fn current() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Runs `f` as the serving of request `id`.
pub async fn scope<F: Future>(id: Arc<str>, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// Whether an id sent by a client (or a proxy in front) may be kept: 1 to
/// 64 characters of `A-Z a-z 0-9 . _ -`, so it cannot forge log lines.
pub fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_and_checked() {
        assert!(current().is_none());
        let got = scope(Arc::from("abc"), async { current() }).await;
        assert_eq!(got.as_deref(), Some("abc"));
        assert!(acceptable("req-1.2_x"));
        for bad in ["", "a b", "x\r\ny", &"a".repeat(65), "é"] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
