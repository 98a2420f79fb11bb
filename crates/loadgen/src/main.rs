//! `cryptobot-loadgen`: measures a running `cryptobot serve` on loopback.
//!
//! Open loop: requests are scheduled at a fixed rate and each latency is
//! measured from its scheduled start, so a stalled server cannot hide its
//! queueing (no coordinated omission). Optionally floods wrong-password
//! sign-ins from another loopback address at the same time.
//!
//! With `--idle` and `--slowloris` it holds that many attack connections
//! (from `--attack-from` addresses) while measuring; with `--server-pid`
//! it reports the server's memory before, during and after.
//!
//! Only loopback targets and sources are accepted, and counts and times are
//! bounded.

mod attack;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Debug, Parser)]
#[command(
    name = "cryptobot-loadgen",
    about = "Open-loop HTTPS load against cryptobot serve on loopback"
)]
struct Args {
    /// Server address (loopback only), e.g. 127.0.0.1:8000
    #[arg(long)]
    addr: SocketAddr,
    /// CA certificate (PEM) the client trusts, e.g. <home>/config/tls/server.crt
    #[arg(long)]
    ca: std::path::PathBuf,
    /// Account to sign in as (not needed for `--mode health`)
    #[arg(long, default_value = "")]
    user: String,
    /// Environment variable holding that account's password
    #[arg(long, default_value = "CRYPTOBOT_LOADGEN_PASSWORD")]
    password_env: String,
    /// What to measure: `health` (unauthenticated GET /healthz),
    /// `sessions` (authenticated GET /api/v1/sessions), `login`, or `sign` (POST /api/v1/exchange-keys/{--key-id}/sign with a
    /// fresh Binance order; the account needs keys:sign)
    #[arg(long, default_value = "sessions")]
    mode: String,
    /// Exchange key id for `--mode sign` (a Binance key)
    #[arg(long, default_value = "")]
    key_id: String,
    /// Requests per second of the measured traffic
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds to run
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Local address of the measured client
    #[arg(long, default_value = "127.0.0.1")]
    from: IpAddr,
    /// Wrong-password sign-ins per second to send at the same time (0 = none)
    #[arg(long, default_value_t = 0)]
    flood_rate: u32,
    /// Local address the flood comes from
    #[arg(long, default_value = "127.0.0.2")]
    flood_from: IpAddr,
    /// Account the flood targets
    #[arg(long, default_value = "flood-target")]
    flood_user: String,
    /// Spread the flood over this many addresses (127.0.1.1 …), each
    /// failing with a different unknown username: the worst case for
    /// per-address delays and account lockout
    #[arg(long, default_value_t = 1)]
    flood_addresses: u16,
    /// Idle TLS connections to hold (handshake, then nothing), reconnecting
    /// when the server closes them
    #[arg(long, default_value_t = 0)]
    idle: u32,
    /// Slowloris connections to hold (a request head sent one header line a
    /// second, never finished), reconnecting when the server closes them
    #[arg(long, default_value_t = 0)]
    slowloris: u32,
    /// Loopback addresses the idle and slowloris connections come from
    /// (comma-separated; connections are spread over them)
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.2")]
    attack_from: Vec<IpAddr>,
    /// Seconds at most to wait for the attack connections before measuring
    #[arg(long, default_value_t = 60)]
    ramp: u64,
    /// Seconds to wait after the attack ended before the last memory reading
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// The server's process id, to report its VmRSS/VmHWM and descriptors
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write one line per 200 answer to this file: the request's number,
    /// the unix milliseconds it was sent at (in `--mode sign` also its
    /// signed `timestamp`) and the unix milliseconds its answer arrived —
    /// to compare what was answered with the audit log afterwards
    #[arg(long)]
    answered_log: Option<std::path::PathBuf>,
}

/// Upper bounds, so a typo cannot turn this into a real flood.
const MAX_ATTACK_CONNECTIONS: u32 = 60_000;
const MAX_SECONDS: u64 = 600;
const MAX_RATE: u32 = 100_000;

fn server_memory(pid: Option<u32>) -> serde_json::Value {
    match pid.and_then(|p| attack::memory_kb(p).map(|m| (p, m))) {
        Some((p, (rss, hwm))) => json!({
            "vm_rss_kb": rss,
            "vm_hwm_kb": hwm,
            "descriptors": attack::descriptors(p),
        }),
        None => serde_json::Value::Null,
    }
}

fn client(ca: &[u8], from: IpAddr, addr: SocketAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca)?])
        .local_address(from)
        .resolve("localhost", addr)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?)
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for ip in [args.addr.ip(), args.from, args.flood_from]
        .into_iter()
        .chain(args.attack_from.iter().copied())
    {
        if !ip.is_loopback() {
            bail!("{ip} is not a loopback address; this tool only measures loopback");
        }
    }
    if args.attack_from.is_empty() || args.attack_from.iter().any(IpAddr::is_ipv6) {
        bail!("--attack-from takes IPv4 loopback addresses (127.x.y.z)");
    }
    if args.idle.saturating_add(args.slowloris) > MAX_ATTACK_CONNECTIONS {
        bail!("--idle plus --slowloris is limited to {MAX_ATTACK_CONNECTIONS}");
    }
    if args.duration > MAX_SECONDS || args.ramp > MAX_SECONDS || args.settle > MAX_SECONDS {
        bail!("--duration, --ramp and --settle are limited to {MAX_SECONDS} seconds");
    }
    if args.rate == 0 || args.rate > MAX_RATE || args.flood_rate > MAX_RATE {
        bail!("--rate must be 1 to {MAX_RATE}, --flood-rate at most {MAX_RATE}");
    }
    let ca = std::fs::read(&args.ca).with_context(|| format!("reading {}", args.ca.display()))?;
    let password = if args.mode == "health" {
        String::new()
    } else {
        std::env::var(&args.password_env).with_context(|| {
            format!("set {} to the password of {}", args.password_env, args.user)
        })?
    };
    let c = client(&ca, args.from, args.addr)?;
    let base = format!("https://localhost:{}", args.addr.port());
    let login_body = json!({"username": args.user, "password": password});

    if !["health", "sessions", "login", "sign"].contains(&args.mode.as_str()) {
        bail!(
            "unknown --mode {}; use health, sessions, login or sign",
            args.mode
        );
    }
    if args.mode == "sign" && args.key_id.is_empty() {
        bail!("--mode sign needs --key-id (see `cryptobot keys list`)");
    }
    let token = if !["login", "health"].contains(&args.mode.as_str()) {
        let resp = c
            .post(format!("{base}/api/v1/auth/login"))
            .json(&login_body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("sign-in failed: {}", resp.status());
        }
        let v: serde_json::Value = resp.json().await?;
        v["access_token"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };

    // The flood, on its own client and address.
    let flood_stats = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let flood = if args.flood_rate > 0 {
        let clients: Vec<reqwest::Client> = if args.flood_addresses <= 1 {
            vec![client(&ca, args.flood_from, args.addr)?]
        } else {
            (0..args.flood_addresses)
                .map(|i| {
                    let ip = IpAddr::from([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8]);
                    client(&ca, ip, args.addr)
                })
                .collect::<anyhow::Result<_>>()?
        };
        let spread = args.flood_addresses > 1;
        let url = format!("{base}/api/v1/auth/login");
        let flood_user = args.flood_user.clone();
        let stats = Arc::clone(&flood_stats);
        let period = Duration::from_secs_f64(1.0 / f64::from(args.flood_rate));
        let end = Instant::now() + Duration::from_secs(args.duration);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = Vec::new();
            let mut n: usize = 0;
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let fc = clients[n % clients.len()].clone();
                let user = if spread {
                    format!("nobody-{n}")
                } else {
                    flood_user.clone()
                };
                let body = json!({"username": user, "password": "Wrong-Password-000"});
                let (url, stats) = (url.clone(), Arc::clone(&stats));
                tasks.push(tokio::spawn(async move {
                    let code = match fc.post(&url).json(&body).send().await {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    *stats.lock().await.entry(code).or_default() += 1;
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        }))
    } else {
        None
    };

    // The connection attack: slots reconnect until the measurement ends.
    let memory_before = server_memory(args.server_pid);
    let idle_stats = Arc::new(attack::Stats::default());
    let slow_stats = Arc::new(attack::Stats::default());
    let attack_slots = args.idle + args.slowloris;
    let mut ramp_s = 0.0;
    let mut attack_tasks = Vec::new();
    if attack_slots > 0 {
        let tls = attack::tls_config(&ca)?;
        let connecting = Arc::new(tokio::sync::Semaphore::new(128));
        let ramp_start = Instant::now();
        let end = ramp_start + Duration::from_secs(args.ramp + args.duration);
        for i in 0..attack_slots {
            let (kind, stats) = if i < args.idle {
                (attack::Kind::Idle, Arc::clone(&idle_stats))
            } else {
                (attack::Kind::Slowloris, Arc::clone(&slow_stats))
            };
            let from = args.attack_from[i as usize % args.attack_from.len()];
            attack_tasks.push(tokio::spawn(attack::slot(
                kind,
                from,
                args.addr,
                Arc::clone(&tls),
                stats,
                Arc::clone(&connecting),
                end,
            )));
        }
        // Until every slot connected once (or was refused), at most --ramp.
        let ramp_end = ramp_start + Duration::from_secs(args.ramp);
        loop {
            let tried: u64 = [&idle_stats, &slow_stats]
                .iter()
                .map(|s| {
                    s.established.load(std::sync::atomic::Ordering::Relaxed)
                        + s.refused.load(std::sync::atomic::Ordering::Relaxed)
                        + s.errors.load(std::sync::atomic::Ordering::Relaxed)
                })
                .sum();
            if tried >= u64::from(attack_slots) || Instant::now() >= ramp_end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ramp_s = ramp_start.elapsed().as_secs_f64();
    }
    let memory_ramped = server_memory(args.server_pid);

    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let total = u64::from(args.rate) * args.duration;
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let answered = Arc::new(Mutex::new(Vec::<(u64, u128, u128)>::new()));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (c, lat, errs, answers) = (
            c.clone(),
            Arc::clone(&latencies),
            Arc::clone(&errors),
            Arc::clone(&answered),
        );
        let (base, token, mode, body, key_id) = (
            base.clone(),
            token.clone(),
            args.mode.clone(),
            login_body.clone(),
            args.key_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let sent_ms = unix_ms();
            let req = match mode.as_str() {
                "login" => c.post(format!("{base}/api/v1/auth/login")).json(&body),
                "sign" => {
                    let ms = sent_ms;
                    let query = format!(
                        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000&recvWindow=5000&timestamp={ms}"
                    );
                    c.post(format!("{base}/api/v1/exchange-keys/{key_id}/sign"))
                        .bearer_auth(token)
                        .json(&json!({"method": "POST", "path": "/api/v3/order", "query": query}))
                }
                "health" => c.get(format!("{base}/healthz")),
                _ => c.get(format!("{base}/api/v1/sessions")).bearer_auth(token),
            };
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    lat.lock().await.push(scheduled.elapsed());
                    answers.lock().await.push((i, sent_ms, unix_ms()));
                }
                Ok(r) => *errs.lock().await.entry(r.status().to_string()).or_default() += 1,
                Err(e) => *errs.lock().await.entry(e.to_string()).or_default() += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let memory_during = server_memory(args.server_pid);
    if let Some(f) = flood {
        let _ = f.await;
    }
    let attack_open_at_end = [&idle_stats, &slow_stats]
        .iter()
        .map(|s| s.open.load(std::sync::atomic::Ordering::Relaxed))
        .sum::<u64>();
    for t in attack_tasks.drain(..) {
        t.abort();
    }
    let memory_after = if attack_slots > 0 {
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        server_memory(args.server_pid)
    } else {
        serde_json::Value::Null
    };
    if let Some(path) = &args.answered_log {
        let mut lines = String::from("# request sent_unix_ms answered_unix_ms\n");
        let mut answers = answered.lock().await.clone();
        answers.sort_unstable();
        for (i, sent, got) in answers {
            lines.push_str(&format!("{i} {sent} {got}\n"));
        }
        std::fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut lat = latencies.lock().await.clone();
    lat.sort();
    let report = json!({
        "mode": args.mode,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "ok": lat.len(),
        "errors": *errors.lock().await,
        "throughput_per_s": lat.len() as f64 / elapsed.as_secs_f64(),
        "latency_ms": {
            "p50": percentile(&lat, 0.50),
            "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99),
            "p999": percentile(&lat, 0.999),
            "max": percentile(&lat, 1.0),
        },
        "flood": {
            "rate": args.flood_rate,
            "statuses": *flood_stats.lock().await,
        },
        "attack": {
            "from": args.attack_from.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "ramp_s": ramp_s,
            "open_when_measuring_ended": attack_open_at_end,
            "idle": idle_stats.report().await,
            "slowloris": slow_stats.report().await,
        },
        "server_memory": {
            "before": memory_before,
            "after_ramp": memory_ramped,
            "end_of_measurement": memory_during,
            "after_attack": memory_after,
        },
    });
    println!("{report:#}");
    Ok(())
}
