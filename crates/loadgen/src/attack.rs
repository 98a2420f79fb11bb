//! Connection attacks on loopback: idle TLS connections that never send a
//! request, and slowloris connections that send a request head one header
//! line at a time and never finish it. Each slot reconnects when the server
//! closes it (after a pause if it was refused), as an attacker would, so the
//! pressure holds for the whole run.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// Which attack a slot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Idle,
    Slowloris,
}

/// What one kind of attack saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// TLS handshakes completed.
    pub established: AtomicU64,
    /// Connections open now (handshake done, not yet closed).
    pub open: AtomicU64,
    /// Closed by the server before or during the handshake (refused by a cap).
    pub refused: AtomicU64,
    /// Connect or handshake errors other than a close.
    pub errors: AtomicU64,
    /// How long established connections lived until the server closed them.
    pub lifetimes: Mutex<Vec<Duration>>,
}

impl Stats {
    pub async fn report(&self) -> serde_json::Value {
        let mut l = self.lifetimes.lock().await.clone();
        l.sort();
        let pick = |p: f64| -> f64 {
            if l.is_empty() {
                return 0.0;
            }
            let i = ((l.len() as f64 - 1.0) * p).round() as usize;
            l[i.min(l.len() - 1)].as_secs_f64()
        };
        serde_json::json!({
            "established": self.established.load(Ordering::Relaxed),
            "open_at_end": self.open.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "closed_by_server": l.len(),
            "lifetime_s": { "min": pick(0.0), "p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0) },
        })
    }
}

/// The TLS client configuration trusting `ca_pem` only.
pub fn tls_config(ca_pem: &[u8]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("reading the CA certificate")?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Runs one attack slot until `end`: connect from `from`, hold the
/// connection the `kind` way until the server closes it, record how long it
/// lived, reconnect.
pub async fn slot(
    kind: Kind,
    from: IpAddr,
    to: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    stats: Arc<Stats>,
    connecting: Arc<tokio::sync::Semaphore>,
    end: Instant,
) {
    let connector = tokio_rustls::TlsConnector::from(tls);
    let Ok(name) = ServerName::try_from("localhost") else {
        return;
    };
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        let attempt = async {
            // Few handshakes at once, so the ramp does not overflow the
            // listen backlog; held connections need no permit.
            let _permit = connecting.acquire().await.map_err(std::io::Error::other)?;
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(from, 0))?;
            let tcp = socket.connect(to).await?;
            connector.connect(name.clone(), tcp).await
        };
        let mut stream = match tokio::time::timeout(left, attempt).await {
            Err(_) => return, // the run ended
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ) {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
                // Refused: wait before trying again, not a hot loop.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        stats.established.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let since = Instant::now();
        let held = async {
            let mut buf = [0u8; 1024];
            match kind {
                Kind::Idle => loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                },
                Kind::Slowloris => {
                    if stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut n: u64 = 0;
                    loop {
                        tokio::select! {
                            r = stream.read(&mut buf) => match r {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            },
                            () = tokio::time::sleep(Duration::from_secs(1)) => {
                                n += 1;
                                let line = format!("X-Slow-{n}: {n}\r\n");
                                if stream.write_all(line.as_bytes()).await.is_err()
                                    || stream.flush().await.is_err()
                                {
                                    return;
                                }
                            }
                        }
                    }
                }
            }
        };
        let left = end.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, held).await.is_err() {
            return; // still open when the run ended: stays counted in `open`
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
        stats.lifetimes.lock().await.push(since.elapsed());
    }
}

/// Reads VmRSS and VmHWM (kB) of a process from /proc.
pub fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Open descriptors of a process (entries of /proc/PID/fd), when readable.
pub fn descriptors(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(Iterator::count)
}
