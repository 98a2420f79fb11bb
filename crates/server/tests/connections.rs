//! Connection limits against a real server on loopback, as an attacker
//! would try them: a TCP connection that never starts TLS, a request head
//! sent slowly (slowloris), an idle keep-alive connection, too many
//! connections from one address and in total, an oversized head, and an
//! HTTP/2 preface. Timeouts are set short in each test; the bounds checked
//! are generous (closure happens, not how fast).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Db, TestServer};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// How long any closure may take before the test calls it a failure.
const BOUND: Duration = Duration::from_secs(10);

/// A plain TCP connection from `from` to `to` (the whole 127/8 is loopback).
async fn tcp_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    let stream = socket.connect(to).await.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(BOUND * 2)).unwrap();
    stream
}

fn client_config(cert_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS connection with the handshake done.
async fn tls_from(s: &TestServer, from: [u8; 4]) -> Tls {
    let tcp = tcp_from(from, s.addr).await;
    let config = client_config(&s.cert_pem);
    tokio::task::spawn_blocking(move || {
        let conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        tls
    })
    .await
    .unwrap()
}

/// Reads until the server closes; returns what it sent and when it closed
/// (`None` if it was still open after twice [`BOUND`]).
fn read_to_close<R: Read>(r: &mut R) -> (Vec<u8>, Option<Duration>) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, Some(start.elapsed())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, None);
            }
            // Reset, or TLS ended without close_notify: closed.
            Err(_) => return (out, Some(start.elapsed())),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// One `GET /healthz` on `tls`, keeping the connection; returns the status line.
fn get_health(tls: &mut Tls) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).unwrap(), 1, "closed mid-response");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let len: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    tls.read_exact(&mut body).unwrap();
    text.lines().next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_starts_tls_is_closed_after_the_handshake_timeout() {
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.tls_handshake_timeout_seconds = 1;
    })
    .await;
    let mut tcp = tcp_from([127, 0, 0, 1], s.addr).await;
    let (_, closed) = blocking(move || read_to_close(&mut tcp)).await;
    let closed = closed.expect("still open after the handshake timeout");
    assert!(
        closed >= Duration::from_millis(800),
        "closed after {closed:?}"
    );
    assert!(closed < BOUND, "closed after {closed:?}");
    // Counted just after the close.
    let deadline = Instant::now() + BOUND;
    while s.state().connections.snapshot().handshake_timeouts == 0 {
        assert!(Instant::now() < deadline, "handshake timeout not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_head_is_closed_after_the_header_read_timeout() {
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.header_read_timeout_seconds = 1;
        st.server.idle_timeout_seconds = 3600;
    })
    .await;
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    let (_, closed) = blocking(move || {
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: local")
            .unwrap();
        tls.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Dribble on, one byte now and then, never finishing the head.
        let _ = tls.write_all(b"h");
        let _ = tls.flush();
        read_to_close(&mut tls)
    })
    .await;
    let closed = closed.expect("slowloris connection still open");
    assert!(closed < BOUND, "closed after {closed:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.idle_timeout_seconds = 1;
        // hyper's header-read timer also runs between requests; keep it
        // out of the way so the idle timeout is what closes.
        st.server.header_read_timeout_seconds = 60;
    })
    .await;
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    let (status, closed) = blocking(move || {
        let status = get_health(&mut tls);
        (status, read_to_close(&mut tls).1)
    })
    .await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let closed = closed.expect("idle keep-alive connection still open");
    assert!(
        closed >= Duration::from_millis(800),
        "closed after {closed:?}"
    );
    assert!(closed < BOUND, "closed after {closed:?}");

    // A connection that never sends a request is closed the same way.
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    let (_, closed) = blocking(move || read_to_close(&mut tls)).await;
    assert!(
        closed.is_some_and(|c| c < BOUND),
        "never-used connection still open"
    );
    let snap = s.state().connections.snapshot();
    assert_eq!(snap.idle_closed, 2, "{snap:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_requests_the_header_read_timeout_closes_too() {
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.idle_timeout_seconds = 3600;
        st.server.header_read_timeout_seconds = 1;
    })
    .await;
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    let (status, closed) = blocking(move || {
        let status = get_health(&mut tls);
        (status, read_to_close(&mut tls).1)
    })
    .await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        closed.is_some_and(|c| c < BOUND),
        "keep-alive connection still open"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_over_its_cap_is_closed_at_once_while_others_are_served() {
    const N: usize = 3;
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.max_connections_per_address = N as u32;
        st.server.header_read_timeout_seconds = 60;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(tls_from(&s, [127, 0, 0, 1]).await);
    }
    assert_eq!(
        s.state()
            .connections
            .open_from(IpAddr::from([127, 0, 0, 1])),
        N
    );
    // The N+1-th from 127.0.0.1: TCP completes (the kernel accepts), then
    // the server closes it without a handshake.
    let mut extra = tcp_from([127, 0, 0, 1], s.addr).await;
    let (got, closed) = blocking(move || {
        // A ClientHello-sized write may fail once the server closed.
        let _ = extra.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]);
        read_to_close(&mut extra)
    })
    .await;
    assert!(
        got.is_empty(),
        "the refused connection got {} bytes",
        got.len()
    );
    let closed = closed.expect("the connection over the cap stayed open");
    assert!(closed < Duration::from_secs(5), "closed after {closed:?}");

    // Another address is still served, over real TLS.
    let other = s.client_from(IpAddr::from([127, 0, 0, 2]));
    let r = other.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The held ones still work, and a released place can be taken again.
    let mut first = held.remove(0);
    let status = blocking(move || get_health(&mut first)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = tls_from(&s, [127, 0, 0, 1]).await;
    let status = blocking(move || get_health(&mut again)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    let snap = s.state().connections.snapshot();
    assert_eq!(snap.refused_per_address, 1, "{snap:?}");
    assert_eq!(snap.refused_total, 0, "{snap:?}");
    drop(held);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_cap_holds_across_addresses() {
    const MAX: usize = 16;
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.max_connections = MAX as u32;
        st.server.max_connections_per_address = 4;
        st.server.header_read_timeout_seconds = 60;
    })
    .await;
    let mut held = Vec::new();
    for i in 0..MAX {
        let from = [127, 0, 1, 1 + (i / 4) as u8];
        held.push(tls_from(&s, from).await);
    }
    assert_eq!(s.state().connections.snapshot().open, MAX);
    // A new address, under its own cap, is still refused: the total is full.
    let mut extra = tcp_from([127, 0, 2, 1], s.addr).await;
    let (got, closed) = blocking(move || read_to_close(&mut extra)).await;
    assert!(got.is_empty());
    assert!(
        closed.is_some_and(|c| c < Duration::from_secs(5)),
        "over the total cap but open"
    );
    let snap = s.state().connections.snapshot();
    assert_eq!(snap.refused_total, 1, "{snap:?}");
    assert_eq!(snap.open, MAX, "{snap:?}");

    // One closes; its place is free again.
    drop(held.pop());
    let deadline = Instant::now() + BOUND;
    while s.state().connections.snapshot().open >= MAX {
        assert!(
            Instant::now() < deadline,
            "the closed connection was not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut again = tls_from(&s, [127, 0, 2, 1]).await;
    let status = blocking(move || get_health(&mut again)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    drop(held);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_max_header_bytes_gets_431() {
    let s = TestServer::start(Db::Sqlite, |st| {
        st.server.max_header_bytes = 8192;
    })
    .await;
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    let (got, closed) = blocking(move || {
        let filler = "a".repeat(16 * 1024);
        let req = format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: {filler}\r\n\r\n");
        // The server may close before all of it is read.
        let _ = tls.write_all(req.as_bytes());
        let _ = tls.flush();
        read_to_close(&mut tls)
    })
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 431") || got.is_empty(), "{text}");
    assert!(closed.is_some(), "still open after an oversized head");

    // A head under the limit is served.
    let client = s.client();
    let r = client
        .get(s.url("/healthz"))
        .header("x-filler", "a".repeat(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_not_spoken() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let mut tls = tls_from(&s, [127, 0, 0, 1]).await;
    assert_ne!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    let (got, closed) = blocking(move || {
        // The HTTP/2 connection preface, then an empty SETTINGS frame.
        let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
        let _ = tls.flush();
        read_to_close(&mut tls)
    })
    .await;
    // An HTTP/2 server answers with a SETTINGS frame (type 4 in byte 3);
    // HTTP/1.1 answers 4xx or closes.
    let is_h2_settings = got.len() >= 9 && got[3] == 0x04;
    assert!(!is_h2_settings, "the server spoke HTTP/2: {got:?}");
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 4"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed.is_some());
    s.stop().await;
}
