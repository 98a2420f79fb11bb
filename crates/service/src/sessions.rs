//! Session rules shared by token checks and refreshes.

use cryptobot_config::Settings;
use cryptobot_store::Session;

/// Why a session is no longer usable, if it is not: `ended`, `expired`,
/// or `idle_timeout` (`security.session.idle_timeout_seconds`).
pub fn session_end_reason(settings: &Settings, s: &Session, now: i64) -> Option<&'static str> {
    if s.ended_at.is_some() {
        return Some("ended");
    }
    if s.expires_at <= now {
        return Some("expired");
    }
    let idle = i64::from(settings.security.session.idle_timeout_seconds);
    if s.last_seen + idle <= now {
        return Some("idle_timeout");
    }
    None
}
