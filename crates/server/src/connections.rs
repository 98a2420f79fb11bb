//! Connection limits of `cryptobot serve`: how many connections the server
//! and each client address may hold, and how long a connection may sit in
//! the TLS handshake, in a request head, or idle between requests.
//!
//! [`build_server`] assembles the axum-server `Server`:
//!
//! - [`LimitAcceptor`] runs on the TCP stream before rustls. It counts open
//!   connections (in total and per peer address, loopback included) and
//!   closes one over either cap at once; the count is released when the
//!   connection ends. It also closes a connection that has no request in
//!   flight and moved no byte for `server.idle_timeout_seconds`.
//! - rustls' handshake timeout (`server.tls_handshake_timeout_seconds`).
//! - hyper's header-read timeout (`server.header_read_timeout_seconds`),
//!   which hyper starts whenever it waits for a request head: it bounds a
//!   slow head (slowloris) and also the wait for the next request on a
//!   keep-alive connection. The same bound is axum-server's first-request
//!   timeout.
//! - hyper's read buffer (`server.max_header_bytes`): a larger head gets 431.
//! - HTTP/1.1 only (ALPN announces only `http/1.1`; an HTTP/2 preface is
//!   not spoken).
//!
//! [`ConnectionCounters`] hold the figures (for `/metrics` later); a cap
//! that refuses connections logs one WARN line per minute and reason, with
//! the count, never one line per connection.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The limits, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections per client address.
    pub max_per_address: usize,
    /// Time for the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time for one request head (and for the next request to start).
    pub header_read_timeout: Duration,
    /// Time a connection without a request in flight may move no byte.
    pub idle_timeout: Duration,
    /// Largest request head, in bytes (at least 8192, hyper's minimum).
    pub max_header_bytes: usize,
}

impl ConnectionLimits {
    /// The limits of validated settings.
    pub fn from_settings(s: &cryptobot_config::Server) -> Self {
        let secs = |v: u32| Duration::from_secs(u64::from(v));
        ConnectionLimits {
            max_connections: s.max_connections as usize,
            max_per_address: s.max_connections_per_address as usize,
            tls_handshake_timeout: secs(s.tls_handshake_timeout_seconds),
            header_read_timeout: secs(s.header_read_timeout_seconds),
            idle_timeout: secs(s.idle_timeout_seconds),
            // hyper panics below 8192; validation refuses it, this is a floor.
            max_header_bytes: (s.max_header_bytes as usize).max(8192),
        }
    }
}

/// Why connections are refused or closed, one rate-limited WARN each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Total,
    PerAddress,
    AcceptFailed,
}

const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Warned {
    last: Option<Instant>,
    pending: u64,
}

/// What the connection limits did since the start; read with
/// [`ConnectionCounters::snapshot`].
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    open: AtomicUsize,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_address: AtomicU64,
    handshake_timeouts: AtomicU64,
    handshake_failures: AtomicU64,
    idle_closed: AtomicU64,
    accept_errors: AtomicU64,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    warned: Mutex<[Warned; 3]>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    /// Connections open now (TLS handshake included).
    pub open: usize,
    /// Client addresses with an open connection now.
    pub addresses: usize,
    /// Connections admitted under the caps.
    pub accepted: u64,
    /// Connections closed at once because `server.max_connections` were open.
    pub refused_total: u64,
    /// Connections closed at once because their address held
    /// `server.max_connections_per_address`.
    pub refused_per_address: u64,
    /// TLS handshakes not finished within the timeout.
    pub handshake_timeouts: u64,
    /// TLS handshakes that failed otherwise (bad client hello, peer gone).
    pub handshake_failures: u64,
    /// Connections closed after `server.idle_timeout_seconds` without traffic.
    pub idle_closed: u64,
    /// `accept()` failures (e.g. no file descriptor left).
    pub accept_errors: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConnectionCounters {
    /// The figures now.
    pub fn snapshot(&self) -> ConnectionSnapshot {
        ConnectionSnapshot {
            open: self.open.load(Ordering::Relaxed),
            addresses: lock(&self.per_address).len(),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused_total: self.refused_total.load(Ordering::Relaxed),
            refused_per_address: self.refused_per_address.load(Ordering::Relaxed),
            handshake_timeouts: self.handshake_timeouts.load(Ordering::Relaxed),
            handshake_failures: self.handshake_failures.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// Open connections from `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        lock(&self.per_address)
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }

    /// Counts one event of `reason` and logs, at most once a minute per
    /// reason, how many happened since the last line.
    fn warn(&self, reason: Reason, peer: Option<IpAddr>, error: Option<&io::Error>) {
        let n = {
            let mut w = lock(&self.warned);
            let w = &mut w[reason as usize];
            w.pending += 1;
            let now = Instant::now();
            if w.last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
                return;
            }
            w.last = Some(now);
            std::mem::take(&mut w.pending)
        };
        let peer = peer.map(|p| p.to_string());
        match reason {
            Reason::Total => tracing::warn!(
                refused = n,
                last_peer = peer.as_deref(),
                "connections refused: server.max_connections are open (count since the last such line, at most one a minute)"
            ),
            Reason::PerAddress => tracing::warn!(
                refused = n,
                last_peer = peer.as_deref(),
                "connections refused: an address holds server.max_connections_per_address (count since the last such line, at most one a minute)"
            ),
            Reason::AcceptFailed => {
                let exhausted = error.is_some_and(descriptors_exhausted);
                let error = error.map(ToString::to_string);
                if exhausted {
                    tracing::warn!(
                        failed = n,
                        error = error.as_deref(),
                        "cannot accept connections: file descriptors are exhausted (raise LimitNOFILE or lower server.max_connections; count since the last such line, at most one a minute)"
                    )
                } else {
                    tracing::warn!(
                        failed = n,
                        error = error.as_deref(),
                        "cannot accept connections (count since the last such line, at most one a minute)"
                    )
                }
            }
        }
    }

    /// Sorts an error axum-server reports for a connection (`peer` known)
    /// or for `accept()` itself (`peer` unknown) into the counters.
    pub fn on_accept_error(&self, peer: Option<&SocketAddr>, e: &io::Error) {
        if e.get_ref().is_some_and(|inner| inner.is::<Refused>()) {
            return; // counted and logged when refused
        }
        match peer {
            None => {
                self.accept_errors.fetch_add(1, Ordering::Relaxed);
                self.warn(Reason::AcceptFailed, None, Some(e));
            }
            Some(_) if e.kind() == io::ErrorKind::TimedOut => {
                self.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                self.handshake_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Admits a connection from `ip` under the caps, or says which refused it.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &ConnectionLimits) -> Result<Guard, Reason> {
        if self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limits.max_connections).then_some(n + 1)
            })
            .is_err()
        {
            self.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(Reason::Total);
        }
        {
            let mut map = lock(&self.per_address);
            let held = map.entry(ip).or_insert(0);
            if *held >= limits.max_per_address {
                drop(map);
                self.open.fetch_sub(1, Ordering::AcqRel);
                self.refused_per_address.fetch_add(1, Ordering::Relaxed);
                return Err(Reason::PerAddress);
            }
            *held += 1;
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(Guard {
            counters: Arc::clone(self),
            ip,
        })
    }
}

/// Whether `e` means the process or the system ran out of file
/// descriptors (EMFILE, ENFILE).
pub fn descriptors_exhausted(e: &io::Error) -> bool {
    // EMFILE = 24, ENFILE = 23 on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Holds one connection's place in the counts; released on drop.
#[derive(Debug)]
struct Guard {
    counters: Arc<ConnectionCounters>,
    ip: IpAddr,
}

impl Drop for Guard {
    fn drop(&mut self) {
        {
            let mut map = lock(&self.counters.per_address);
            if let Some(held) = map.get_mut(&self.ip) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    map.remove(&self.ip);
                }
            }
        }
        self.counters.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The error of a refused connection (it is already counted).
#[derive(Debug, thiserror::Error)]
#[error("connection refused by a connection cap")]
struct Refused;

/// Counts and caps connections, and ends idle ones. Goes under rustls:
/// `RustlsAcceptor::new(config).acceptor(LimitAcceptor::new(..))`.
#[derive(Debug, Clone)]
pub struct LimitAcceptor {
    counters: Arc<ConnectionCounters>,
    limits: ConnectionLimits,
}

impl LimitAcceptor {
    /// An acceptor counting into `counters`.
    pub fn new(limits: ConnectionLimits, counters: Arc<ConnectionCounters>) -> Self {
        LimitAcceptor { counters, limits }
    }

    fn admit<S>(
        &self,
        stream: TcpStream,
        service: S,
    ) -> io::Result<(Limited<TcpStream>, InFlight<S>)> {
        let ip = stream.peer_addr()?.ip().to_canonical();
        match self.counters.admit(ip, &self.limits) {
            Ok(guard) => {
                let activity = Arc::new(Activity::default());
                let idle = self.limits.idle_timeout;
                Ok((
                    Limited {
                        inner: stream,
                        _guard: guard,
                        activity: Arc::clone(&activity),
                        idle,
                        last: Instant::now(),
                        sleep: Box::pin(tokio::time::sleep(idle)),
                        counters: Arc::clone(&self.counters),
                    },
                    InFlight {
                        inner: service,
                        activity,
                    },
                ))
            }
            Err(reason) => {
                self.counters.warn(reason, Some(ip), None);
                // Dropping the stream closes the connection now.
                drop(stream);
                Err(io::Error::new(io::ErrorKind::ConnectionRefused, Refused))
            }
        }
    }
}

impl<S> Accept<TcpStream, S> for LimitAcceptor {
    type Stream = Limited<TcpStream>;
    type Service = InFlight<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.admit(stream, service))
    }
}

/// Requests being handled on one connection.
#[derive(Debug, Default)]
struct Activity {
    in_flight: AtomicUsize,
}

/// A TCP stream holding its place in the counts, closed (read error
/// `TimedOut`) once it moved no byte for the idle timeout while no request
/// was in flight.
#[derive(Debug)]
pub struct Limited<T> {
    inner: T,
    _guard: Guard,
    activity: Arc<Activity>,
    idle: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
    counters: Arc<ConnectionCounters>,
}

impl<T> Limited<T> {
    /// `Pending` while the connection may stay; `Ready` when it idled out.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let busy = self.activity.in_flight.load(Ordering::Acquire) > 0;
            let due = self.last + self.idle;
            if !busy && now >= due {
                return Poll::Ready(());
            }
            let next = if busy { now + self.idle } else { due };
            self.sleep.as_mut().reset(next);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Limited<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    this.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "idle connection closed (server.idle_timeout_seconds)",
                    )))
                }
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Limited<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.last = Instant::now();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.last = Instant::now();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The connection's service, counting requests in flight so a slow
/// handler is never mistaken for an idle connection.
#[derive(Debug, Clone)]
pub struct InFlight<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> tower::Service<R> for InFlight<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InFlightFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlightFuture {
            inner: Box::pin(self.inner.call(req)),
            _busy: Busy(Arc::clone(&self.activity)),
        }
    }
}

#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request being handled; it stops counting as in flight when dropped.
#[derive(Debug)]
pub struct InFlightFuture<F> {
    inner: Pin<Box<F>>,
    _busy: Busy,
}

impl<F: Future> Future for InFlightFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.get_mut().inner.as_mut().poll(cx)
    }
}

/// The server, limits in place: HTTP/1.1 only, with every timeout and cap.
pub type LimitedServer = axum_server::Server<SocketAddr, RustlsAcceptor<LimitAcceptor>>;

/// Builds the HTTPS server on `listener` under `limits`, counting into
/// `counters`.
pub fn build_server(
    listener: std::net::TcpListener,
    tls: RustlsConfig,
    limits: ConnectionLimits,
    counters: Arc<ConnectionCounters>,
) -> io::Result<LimitedServer> {
    let acceptor = RustlsAcceptor::new(tls)
        .handshake_timeout(limits.tls_handshake_timeout)
        .acceptor(LimitAcceptor::new(limits, Arc::clone(&counters)));
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .http1_only()
        .first_request_timeout(limits.header_read_timeout)
        .accept_error_handler(move |peer, e| counters.on_accept_error(peer, e));
    server
        .http_builder()
        .http1()
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_per_address: per,
            tls_handshake_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_header_bytes: 8192,
        }
    }

    #[test]
    fn caps_hold_and_release() {
        let c = Arc::new(ConnectionCounters::default());
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let l = limits(3, 2);
        let g1 = c.admit(a, &l).ok();
        let g2 = c.admit(a, &l).ok();
        assert!(g1.is_some() && g2.is_some());
        assert_eq!(c.admit(a, &l).err(), Some(Reason::PerAddress));
        let g3 = c.admit(b, &l).ok();
        assert!(g3.is_some());
        assert_eq!(c.admit(b, &l).err(), Some(Reason::Total));
        let s = c.snapshot();
        assert_eq!((s.open, s.addresses, s.accepted), (3, 2, 3));
        assert_eq!((s.refused_per_address, s.refused_total), (1, 1));
        drop((g1, g2, g3));
        let s = c.snapshot();
        assert_eq!((s.open, s.addresses), (0, 0));
        assert_eq!(c.open_from(a), 0);
    }

    /// Reads once from `s`; `Ok(true)` if bytes came.
    async fn read_once(s: &mut Limited<TcpStream>) -> io::Result<bool> {
        let mut buf = [0u8; 16];
        std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf);
            Pin::new(&mut *s)
                .poll_read(cx, &mut rb)
                .map_ok(|()| !rb.filled().is_empty())
        })
        .await
    }

    #[tokio::test]
    async fn a_request_in_flight_is_never_idle() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let counters = Arc::new(ConnectionCounters::default());
        let mut l = limits(10, 10);
        l.idle_timeout = Duration::from_millis(300);
        let (mut stream, mut service) = LimitAcceptor::new(l, Arc::clone(&counters))
            .admit(
                server,
                tower::service_fn(|()| async {
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                    Ok::<_, io::Error>(())
                }),
            )
            .unwrap();
        // A slow handler: the connection moves no byte for four idle
        // timeouts but is not closed while the request is in flight.
        let slow = tower::Service::call(&mut service, ());
        let read = tokio::time::timeout(Duration::from_millis(1000), read_once(&mut stream)).await;
        assert!(
            read.is_err(),
            "closed while a request was in flight: {read:?}"
        );
        slow.await.unwrap();
        // Done: now it idles out.
        let e = tokio::time::timeout(Duration::from_secs(5), read_once(&mut stream))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(counters.snapshot().idle_closed, 1);
        drop(stream);
        assert_eq!(counters.snapshot().open, 0);
    }

    #[test]
    fn descriptor_errors_are_named() {
        assert!(descriptors_exhausted(&io::Error::from_raw_os_error(24)));
        assert!(descriptors_exhausted(&io::Error::from_raw_os_error(23)));
        assert!(!descriptors_exhausted(&io::Error::from_raw_os_error(2)));
    }
}
