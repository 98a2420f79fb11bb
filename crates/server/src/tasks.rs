//! The service's background tasks: the certificate watcher (reload on
//! change or SIGHUP, expiry alert), the signing-key watcher, the vault
//! sweep and the rate-limit counter log.

use std::time::Duration;

use cryptobot_service::audit::Who;
use cryptobot_service::clock::now;
use cryptobot_service::exchange_keys::Vault;
use cryptobot_service::signing_keys;

use crate::connections;
use crate::shared::CounterSnapshot;
use crate::state::AppState;
use crate::tls;

/// What the certificate watcher needs.
pub(crate) struct CertWatch {
    pub(crate) cert: std::path::PathBuf,
    pub(crate) key: std::path::PathBuf,
    pub(crate) policy: cryptobot_tls::Policy,
    pub(crate) config: axum_server::tls_rustls::RustlsConfig,
    pub(crate) first_pem: Vec<u8>,
}

/// Serves new certificate files without a restart: checked every second
/// and on SIGHUP. New connections get the new certificate; open ones keep
/// theirs. A pair that cannot be loaded (e.g. the key written after the
/// certificate) is logged and retried; the old one stays in service. Also
/// raises the expiry alert, at most once a day.
pub(crate) async fn watch_certificate(state: AppState, w: CertWatch) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut stamp = tls::files_stamp(&w.cert, &w.key);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_alert: Option<i64> = None;
    let mut pending_error: Option<String> = None;
    expiry_alert(&state, &w.cert, &w.first_pem, &mut last_alert).await;
    let mut ticks: u64 = 0;
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        ticks = ticks.wrapping_add(1);
        let now_stamp = tls::files_stamp(&w.cert, &w.key);
        if !forced && now_stamp == stamp {
            if ticks.is_multiple_of(3600)
                && let Ok(pem) = std::fs::read(&w.cert)
            {
                expiry_alert(&state, &w.cert, &pem, &mut last_alert).await;
            }
            continue;
        }
        let loaded = std::fs::read(&w.cert)
            .and_then(|c| std::fs::read(&w.key).map(|k| (c, zeroize::Zeroizing::new(k))))
            .map_err(|e| e.to_string())
            .and_then(|(c, k)| {
                tls::server_config(
                    &c,
                    &k,
                    &w.cert.display().to_string(),
                    &w.key.display().to_string(),
                    w.policy,
                )
                .map(|cfg| (c, cfg))
                .map_err(|e| e.to_string())
            });
        match loaded {
            Ok((pem, cfg)) => {
                w.config.reload_from_config(cfg);
                stamp = now_stamp;
                pending_error = None;
                let info = cryptobot_tls::inspect_pem(&pem).ok();
                tracing::info!(
                    cert = %w.cert.display(),
                    fingerprint = info.as_ref().map(|i| i.fingerprint.as_str()).unwrap_or(""),
                    "certificate reloaded"
                );
                state
                    .audit(
                        "certificate_reloaded",
                        &Who {
                            actor: Some("system".into()),
                            client: None,
                        },
                        Some(&w.cert.display().to_string()),
                        "success",
                        serde_json::json!({
                            "fingerprint": info.as_ref().map(|i| i.fingerprint.clone()),
                            "not_after": info.as_ref().map(|i| i.not_after),
                        }),
                    )
                    .await;
                last_alert = None;
                expiry_alert(&state, &w.cert, &pem, &mut last_alert).await;
            }
            Err(e) => {
                // Logged once per distinct error, retried every second.
                if pending_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(error = %e, "certificate files changed but cannot be loaded; still serving the previous certificate");
                    pending_error = Some(e);
                }
                if forced {
                    stamp = now_stamp;
                }
            }
        }
    }
}

/// An audit event and an alert when the served certificate has fewer than
/// [`tls::ALERT_DAYS`] days left (once a day at most).
async fn expiry_alert(
    state: &AppState,
    path: &std::path::Path,
    pem: &[u8],
    last: &mut Option<i64>,
) {
    let Ok(info) = cryptobot_tls::inspect_pem(pem) else {
        return;
    };
    let now = now();
    let left = cryptobot_tls::days_left(info.not_after, now);
    if left >= tls::ALERT_DAYS || last.is_some_and(|t| now - t < 86_400) {
        return;
    }
    *last = Some(now);
    tracing::warn!(
        alert = true,
        cert = %path.display(),
        days_left = left,
        "the served certificate expires soon: run `cryptobot ssl renew` or import a new one"
    );
    state
        .audit(
            "certificate_expiring",
            &Who { actor: Some("system".into()), client: None },
            Some(&path.display().to_string()),
            "warning",
            serde_json::json!({ "days_left": left, "not_after": info.not_after, "subject": info.subject }),
        )
        .await;
}

/// Reloads the key ring when `cryptobot token rotate-signing-key` changed
/// the files, so running servers pick up a rotation without a restart.
pub(crate) async fn watch_keys(state: AppState) {
    let mut stamp = signing_keys::files_stamp(&state.layout);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut ticks: u32 = 0;
    loop {
        tick.tick().await;
        ticks = ticks.wrapping_add(1);
        let now_stamp = signing_keys::files_stamp(&state.layout);
        // Reload on a change, and every minute so retired keys age out.
        if now_stamp == stamp && !ticks.is_multiple_of(30) {
            continue;
        }
        let changed = now_stamp != stamp;
        match signing_keys::load(&state.layout, now()) {
            Ok(ring) => {
                tracing::info!(kids = ?ring.verifier.kids(), "signing keys reloaded");
                if changed {
                    state
                        .audit(
                            "signing_keys_changed",
                            &cryptobot_service::audit::Who::default(),
                            None,
                            "ok",
                            serde_json::json!({"kids": ring.verifier.kids()}),
                        )
                        .await;
                }
                state.set_key_ring(ring);
                stamp = now_stamp;
            }
            // Out of descriptors, the files cannot be opened: say so rather
            // than blame the files.
            Err(signing_keys::KeyError::Read { ref source, .. })
                if connections::descriptors_exhausted(source) =>
            {
                tracing::error!(
                    open_connections = state.connections.snapshot().open,
                    "cannot reload the signing keys: file descriptors are exhausted (raise LimitNOFILE or lower server.max_connections); keeping the old ones"
                )
            }
            Err(e) if changed => {
                tracing::error!(error = %e, "signing keys changed but cannot be loaded; keeping the old ones")
            }
            Err(e) => {
                tracing::error!(error = %e, "signing keys cannot be reloaded; keeping the old ones")
            }
        }
    }
}

/// Once a minute: destroys exchange-key versions whose grace period ended,
/// raises rotation-due events, and picks up a rotated master key ring.
pub(crate) async fn sweep_vault(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.vault.refresh();
        let v = Vault {
            store: &state.store,
            keys: &state.vault,
            settings: &state.settings,
            batcher: Some(&state.audit_batcher),
            budget: None,
        };
        if let Err(e) = v.sweep(now()).await {
            tracing::error!(error = %e, "vault sweep failed");
        }
    }
}

/// Logs the counters once a minute when they changed.
pub(crate) async fn log_counters(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut last = CounterSnapshot::default();
    loop {
        tick.tick().await;
        let now = state.limits.counters.snapshot();
        if now != last {
            tracing::info!(
                target: "metrics",
                allowed = now.allowed,
                limited = now.limited,
                delayed = now.delayed,
                refused_unavailable = now.refused_unavailable,
                fallback = now.fallback,
                backend_errors = now.backend_errors,
                shared = state.limits.shared(),
                "rate limit counters"
            );
            last = now;
        }
    }
}

/// Every 10 seconds: writes the counted refusals of minutes that are over
/// (one audit record per event, reason, address and minute).
pub(crate) async fn flush_refusals(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        state
            .noisy
            .flush(&state.store, cryptobot_service::clock::now_ms(), false)
            .await;
    }
}
