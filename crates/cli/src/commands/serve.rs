//! `cryptobot serve`: prepare the home if needed, make a self-signed
//! certificate if there is none, then run the HTTPS service until SIGTERM or
//! SIGINT.

use std::time::Duration;

use cryptobot_server::StartOptions;

use crate::commands::secure_config::prepare_if_needed;
use crate::context::{Context, Failure};

/// Time open requests get to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(10);

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the async runtime: {e}"), None))
}

/// Sends the service log (JSON lines, audit events among them) to stderr.
fn init_logging(verbose: u8, quiet: bool) {
    // rustls warns once per connection about what any client can send
    // (e.g. an IP address as TLS server name): a log flood. Its errors stay;
    // failed handshakes are counted by the server's connection counters.
    let level = match (quiet, verbose) {
        (true, _) => "warn,audit=info,rustls=error",
        (false, 0) => "info,rustls=error",
        (false, 1) => "info,cryptobot_server=debug,cryptobot_service=debug,rustls=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRYPTOBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Creates a self-signed localhost certificate when neither certificate
/// nor key exists. Returns the certificate path when one was made.
fn ensure_certificate(
    ctx: &Context,
    settings: &cryptobot_config::Settings,
) -> Result<Option<std::path::PathBuf>, Failure> {
    let now = cryptobot_service::clock::now();
    match cryptobot_harden::ssl::self_signed(&ctx.root, &ctx.layout, settings, now)? {
        None => Ok(None),
        Some((plan, cert)) => {
            ctx.apply(&plan, "serve: self-signed certificate")?;
            Ok(Some(cert))
        }
    }
}

/// How long a start waits for another process preparing the same home.
const PREPARE_WAIT: Duration = Duration::from_secs(120);

/// Lets one process at a time prepare the home (secure-config, the first
/// certificate): replicas started together on a fresh home would otherwise
/// plan the same files at once, and all but one would find them changed
/// under their plan. The others wait, then plan again against what the
/// first one wrote (nothing left to do). The lock is an `flock` on the home
/// directory itself, so no lock file is left behind; a missing home is
/// created first (mode 0755, as the layout wants it) when its parent exists,
/// otherwise preparation creates it and runs unlocked.
fn prepare_lock(ctx: &Context) -> Result<Option<std::os::fd::OwnedFd>, Failure> {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let home = ctx.root.host(ctx.layout.home())?;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Failure::runtime(
            format!("cannot {what} {}: {e}", home.display()),
            Some("check that the home's directory is writable by this user".to_string()),
        )
    };
    match std::fs::DirBuilder::new().mode(0o755).create(&home) {
        Ok(()) => std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| failed("set the mode of", &e))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed("create", &e)),
    }
    let fd = rustix::fs::open(
        &home,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed("open", &e))?;
    let started = std::time::Instant::now();
    loop {
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(fd)),
            Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < PREPARE_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(Failure::runtime(
                    format!(
                        "another process has been preparing {} for {} s",
                        home.display(),
                        PREPARE_WAIT.as_secs()
                    ),
                    Some("stop the other `cryptobot serve` or `secure-config` on this home, then start again".to_string()),
                ));
            }
            Err(e) => return Err(failed("lock", &e)),
        }
    }
}

/// The glibc tunable `serve` runs with: blocks of 1 MiB and more always
/// come from `mmap` and go back to the system when freed.
const MALLOC_TUNABLE: &str = "glibc.malloc.mmap_threshold=1048576";

/// Found by the soak (tests/soak): every sign-in hashes with argon2's
/// 19 MiB of memory. glibc raises its mmap threshold after the first such
/// block is freed, so later ones come from per-thread arenas and stay
/// there; each new blocking thread could add another arena's worth. A
/// `serve` held 420 MiB after 32 sign-ins and 480 MiB after a pause
/// (31 MiB with the fixed threshold). The threshold is read only at
/// process start, so `serve` executes itself once more with it set
/// (same process id, arguments and descriptors); if that fails it goes on
/// as it is. Other C libraries ignore the variable.
fn bound_allocator_memory() {
    use std::os::unix::process::CommandExt;
    let tunables = match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if t.contains("glibc.malloc.mmap_threshold") => return,
        Ok(t) if !t.is_empty() => format!("{t}:{MALLOC_TUNABLE}"),
        _ => MALLOC_TUNABLE.to_string(),
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // exec() returns only when it failed.
    let _ = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .exec();
}

pub fn run(ctx: &Context) -> Result<(), Failure> {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        bound_allocator_memory();
    }
    if !ctx.root.is_live() {
        return Err(Failure::input(
            "serve runs the service on this machine; --root cannot be used with it",
            Some("leave out --root".to_string()),
        ));
    }
    let quiet = ctx.out.quiet;
    // Validate the configuration before anything is created.
    ctx.load_config()?;
    let preparing = prepare_lock(ctx)?;
    if let Some(n) = prepare_if_needed(ctx)?
        && !quiet
    {
        println!(
            "first start: prepared {} with secure-config ({n} changes; `cryptobot rollback` undoes them)",
            ctx.layout.home().display()
        );
    }
    let (config, _) = ctx.load_config()?;
    let settings = config.settings().clone();
    if let Some(cert) = ensure_certificate(ctx, &settings)?
        && !quiet
    {
        println!(
            "created a self-signed certificate for localhost, 127.0.0.1 and ::1: {}\n  clients must trust this file; replace it with a real certificate for other names",
            cert.display()
        );
    }
    drop(preparing);
    init_logging(ctx.out.verbose, quiet);
    let rt = runtime()?;
    rt.block_on(async {
        let running = cryptobot_server::start(StartOptions {
            settings,
            layout: ctx.layout.clone(),
            store: None,
            hasher: None,
        })
        .await
        .map_err(|e| {
            let hint = e.hint();
            Failure::runtime(e.to_string(), hint)
        })?;
        if !quiet {
            if running.state().store.list_users().await.is_ok_and(|u| u.is_empty()) {
                println!(
                    "no accounts yet: create one with `cryptobot user add NAME --role admin --home {}`",
                    ctx.layout.home().display()
                );
            }
            println!("listening on https://{}", running.addr());
        }
        wait_for_stop().await;
        if !quiet {
            println!(
                "stopping: letting open requests finish (up to {}s)",
                GRACE.as_secs()
            );
        }
        running.shutdown(GRACE).await.map_err(|e| {
            Failure::runtime(format!("the server stopped with an error: {e}"), None)
        })?;
        if !quiet {
            println!("stopped");
        }
        Ok(())
    })
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
