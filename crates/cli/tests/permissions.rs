//! `cryptobot permissions` on a temporary --root holding a real
//! installation with planted problems.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use common::*;

const HOME: &str = "/opt/cryptobot";

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

/// A root with a minimal account database and an installation made by
/// `secure-config`.
fn system() -> (tempfile::TempDir, PathBuf) {
    let (dir, r) = root_with_accounts();
    let rs = r.to_str().unwrap();
    cryptobot(&["secure-config", "--root", rs, "--home", HOME, "-q"]).ok();
    (dir, r)
}

fn perms(r: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["permissions", "--root", r.to_str().unwrap(), "--home", HOME];
    args.extend(extra);
    cryptobot(&args)
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, PermissionsExt::from_mode(mode)).unwrap();
}

fn account_ids(r: &Path) -> (u32, u32) {
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("cryptobot:"))
        .expect("user cryptobot in passwd");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

#[test]
fn fixes_planted_problems_and_reports_each() {
    let (dir, r) = system();
    let home = r.join("opt/cryptobot");

    // The problems.
    let toml = home.join("config/cryptobot.toml");
    chmod(&toml, 0o666); // world-writable
    let secret = home.join("config/secrets/jwt_signing.key");
    chmod(&secret, 0o644); // wrong mode
    let setuid = home.join("data/helper");
    std::fs::write(&setuid, "#!/bin/sh\n").unwrap();
    chmod(&setuid, 0o4755); // setuid
    let log = home.join("logs/service.log");
    std::fs::write(&log, "x\n").unwrap();
    chmod(&log, 0o664); // group-writable
    let pg = home.join("config/postgresql/pg_hba.conf");
    if is_root() {
        std::os::unix::fs::lchown(&pg, Some(1234), Some(1234)).unwrap(); // wrong owner
    }
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "not part of the installation\n").unwrap();
    chmod(&outside, 0o666);
    let link = home.join("data/escape");
    symlink(&outside, &link).unwrap();
    let inside_link = home.join("data/inside");
    symlink("../config/cryptobot.toml", &inside_link).unwrap();

    // --check lists each problem and changes nothing.
    let before = snapshot(&r);
    let check = perms(&r, &["--check"]);
    assert_eq!(check.status, 3, "{}", check.both());
    let out = &check.stdout;
    for (id, path) in [
        ("PERM-001", &toml),
        ("PERM-004", &secret),
        ("PERM-002", &setuid),
        ("PERM-008", &log),
        ("PERM-005", &link),
    ] {
        let host = Path::new("/").join(path.strip_prefix(&r).unwrap());
        assert!(
            out.lines()
                .any(|l| l.starts_with(id) && l.contains(host.to_str().unwrap())),
            "{id} {} missing from:\n{out}",
            host.display()
        );
    }
    if is_root() {
        assert!(
            out.lines()
                .any(|l| l.starts_with("PERM-003") && l.contains("pg_hba.conf")),
            "{out}"
        );
    }
    assert!(out.contains("PERM-006"), "{out}");
    assert!(out.contains("PERM-007"), "{out}");
    assert!(
        !out.contains("data/inside"),
        "a link inside was reported:\n{out}"
    );
    assert!(check.stderr.contains("fix:"), "{}", check.stderr);
    assert_eq!(snapshot(&r), before, "--check changed something");

    // JSON check: the same findings as data.
    let json = perms(&r, &["--check", "--format", "json"]);
    assert_eq!(json.status, 3);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["clean"], false);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in [
        "PERM-001", "PERM-002", "PERM-004", "PERM-005", "PERM-006", "PERM-007",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    // --dry-run changes nothing either.
    perms(&r, &["--dry-run"]).ok();
    assert_eq!(snapshot(&r), before, "--dry-run changed something");

    // The fix.
    let run = perms(&r, &[]).ok();
    for needle in [
        "PERM-001", "PERM-002", "PERM-004", "PERM-007", "PERM-008", "applied",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle} not reported:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("left alone: PERM-005"),
        "{}",
        run.stdout
    );

    // The account.
    let (uid, gid) = account_ids(&r);
    assert!((100..1000).contains(&uid), "uid {uid}");
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains(&format!(
            "cryptobot:x:{uid}:{gid}::{HOME}/data:/usr/sbin/nologin\n"
        )),
        "{passwd}"
    );
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(group.contains(&format!("cryptobot:x:{gid}:")), "{group}");
    let shadow = std::fs::read_to_string(r.join("etc/shadow")).unwrap();
    assert!(
        shadow.contains("cryptobot:!:"),
        "password not locked: {shadow}"
    );
    assert!(shadow.starts_with("root:*:"), "{shadow}");

    // Every path matches the table.
    let expect: &[(&str, u32, (u32, u32))] = &[
        ("", 0o755, (0, 0)),
        ("config", 0o755, (0, gid)),
        ("config/cryptobot.toml", 0o640, (0, gid)),
        ("config/secrets", 0o700, (uid, gid)),
        ("config/secrets/jwt_signing.key", 0o600, (uid, gid)),
        ("config/secrets/vault_master.key", 0o600, (uid, gid)),
        ("config/tls", 0o700, (uid, gid)),
        ("config/tls/server.crt", 0o644, (uid, gid)),
        ("config/tls/server.key", 0o600, (uid, gid)),
        ("config/redis", 0o755, (0, gid)),
        ("config/redis/redis.conf", 0o644, (0, gid)),
        ("config/redis/tls.conf", 0o644, (0, gid)),
        ("config/postgresql", 0o755, (0, gid)),
        ("config/postgresql/pg_hba.conf", 0o644, (0, gid)),
        ("data", 0o700, (uid, gid)),
        ("data/helper", 0o700, (uid, gid)),
        ("data/changes", 0o700, (0, 0)),
        ("logs", 0o750, (uid, gid)),
        ("logs/service.log", 0o640, (uid, gid)),
        ("backups", 0o700, (uid, gid)),
    ];
    let root = is_root();
    if !root {
        eprintln!("not running as root: owner assertions skipped");
    }
    for (rel, m, owner) in expect {
        let p = if rel.is_empty() {
            home.clone()
        } else {
            home.join(rel)
        };
        assert_eq!(mode(&p), *m, "mode of {rel}");
        if root {
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!((md.uid(), md.gid()), *owner, "owner of {rel}");
        }
    }
    assert!(
        run.stdout.contains("self-signed certificate for localhost"),
        "{}",
        run.stdout
    );
    // The link and the file outside are untouched.
    assert_eq!(std::fs::read_link(&link).unwrap(), outside);
    assert_eq!(mode(&outside), 0o666);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "not part of the installation\n"
    );
    if root {
        assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0);
    }

    // The unit.
    let unit = r.join("etc/systemd/system/cryptobot.service");
    assert_eq!(mode(&unit), 0o644);
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(&format!(
        "\nExecStart=/usr/local/bin/cryptobot serve --home {HOME}\n"
    )));
    assert!(text.contains("\nUser=cryptobot\n"));

    // A second run changes nothing; the check is clean but for the link.
    let before = snapshot(&r);
    let again = perms(&r, &[]).ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(snapshot(&r), before, "a second run changed something");
    let check = perms(&r, &["--check"]);
    assert_eq!(check.status, 3, "{}", check.both());
    let left: Vec<&str> = check
        .stdout
        .lines()
        .filter(|l| l.starts_with("PERM-"))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("PERM-005"), "{left:?}");

    // Without the link, the check is clean: exit 0.
    std::fs::remove_file(&link).unwrap();
    let clean = perms(&r, &["--check"]);
    assert_eq!(clean.status, 0, "{}", clean.both());
    assert!(clean.stdout.contains("no deviations"), "{}", clean.stdout);
}

/// The TLS keys `cryptobot ssl` gives to the `postgres` and `redis`
/// accounts stay theirs (0600): `permissions` neither reports nor "fixes"
/// them back to root, and the certificates next to them are root:service.
#[test]
fn service_tls_keys_keep_their_owners() {
    let (_d, r) = system();
    let rs = r.to_str().unwrap();
    let mut passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    passwd.push_str(
        "postgres:x:901:901::/var/lib/postgresql:/bin/bash
",
    );
    passwd.push_str(
        "redis:x:902:902::/var/lib/redis:/usr/sbin/nologin
",
    );
    std::fs::write(r.join("etc/passwd"), passwd).unwrap();
    let mut group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    group.push_str(
        "postgres:x:901:
redis:x:902:
",
    );
    std::fs::write(r.join("etc/group"), group).unwrap();
    cryptobot(&["ssl", "--root", rs, "--home", HOME, "-q"]).ok();
    perms(&r, &["-q"]).ok();
    let check = perms(&r, &["--check"]);
    assert_eq!(check.status, 0, "{}", check.both());
    let home = r.join(HOME.trim_start_matches('/'));
    let (_, gid) = account_ids(&r);
    for (rel, m, owner) in [
        ("config/postgresql/server.key", 0o600, (901, 901)),
        ("config/redis/redis.key", 0o600, (902, 902)),
        ("config/redis/redis.crt", 0o644, (0, gid)),
        ("config/redis/ca.crt", 0o644, (0, gid)),
    ] {
        let p = home.join(rel);
        assert_eq!(mode(&p), m, "mode of {rel}");
        if is_root() {
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!((md.uid(), md.gid()), owner, "owner of {rel}");
        }
    }
}

#[test]
fn rollback_undoes_a_run() {
    let (_d, r) = system();
    let home = r.join("opt/cryptobot");
    let toml = home.join("config/cryptobot.toml");
    chmod(&toml, 0o666);
    let passwd_before = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    perms(&r, &["-q"]).ok();
    assert_eq!(mode(&toml), 0o640);
    cryptobot(&["rollback", "--root", r.to_str().unwrap(), "--home", HOME]).ok();
    assert_eq!(mode(&toml), 0o666);
    assert_eq!(
        std::fs::read_to_string(r.join("etc/passwd")).unwrap(),
        passwd_before
    );
    assert!(!r.join("etc/systemd/system/cryptobot.service").exists());
}

#[test]
fn binary_is_made_root_owned_0755() {
    let (_d, r) = system();
    let bin = r.join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("cryptobot");
    std::fs::write(&exe, "binary").unwrap();
    chmod(&exe, 0o777);
    let run = perms(&r, &[]).ok();
    assert!(
        run.stdout.contains("/usr/local/bin/cryptobot"),
        "{}",
        run.stdout
    );
    assert_eq!(mode(&exe), 0o755);
    // A missing --binary is skipped with a note.
    let run = perms(&r, &["--binary", "/usr/bin/nothing-here", "--check"]);
    assert!(
        run.stdout.contains("/usr/bin/nothing-here does not exist"),
        "{}",
        run.both()
    );
}

#[test]
fn bad_input_is_refused_with_a_fix_and_changes_nothing() {
    let (_d, r) = system();
    let before = snapshot(&r);
    for (args, needle) in [
        (vec!["--user", "Bad:Name"], "--user"),
        (vec!["--user", "9lives"], "--user"),
        (vec!["--binary", "relative/cryptobot"], "--binary"),
    ] {
        let run = perms(&r, &args);
        assert_eq!(run.status, 2, "{args:?}: {}", run.both());
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(run.stderr.contains("fix:"), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    }
    let missing = r.join("does-not-exist");
    let run = cryptobot(&[
        "permissions",
        "--root",
        missing.to_str().unwrap(),
        "--home",
        HOME,
    ]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("fix:"), "{}", run.stderr);
    // An installation that does not exist yet.
    let run = cryptobot(&[
        "permissions",
        "--root",
        r.to_str().unwrap(),
        "--home",
        "/opt/other",
    ]);
    assert_eq!(run.status, 2, "{}", run.both());
    assert!(run.stderr.contains("secure-config"), "{}", run.stderr);
    assert_eq!(snapshot(&r), before, "bad input changed something");
}

#[test]
fn rendered_unit_passes_systemd_analyze() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        // CI installs it (.ci/run); elsewhere the check is skipped loudly.
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing on CI"
        );
        eprintln!("systemd-analyze is not installed: unit checks skipped");
        return;
    };
    let (_d, r) = system();
    // Name the real test binary so `verify` finds an executable.
    let exe = env!("CARGO_BIN_EXE_cryptobot");
    perms(&r, &["--binary", exe, "-q"]).ok();
    let unit = r.join("etc/systemd/system/cryptobot.service");
    let out = std::process::Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    eprintln!("{line}");
    let figure: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line}"));
    assert!(figure <= 2.0, "exposure {figure} > 2.0:\n{text}");
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The macOS script, run for real against an installation, with the
/// macOS-only tools (`dscl`, `launchctl`, `install`, BSD `chown -h`/`chmod -h`)
/// replaced by recording stand-ins.
#[test]
fn macos_script_fixes_an_installation() {
    if !is_root() {
        eprintln!("not running as root: the macOS script test needs chown");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let home = dir.path().join("home");
    let hs = home.to_str().unwrap();
    cryptobot(&["secure-config", "--home", hs, "-q"]).ok();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = cryptobot(&[
        "permissions",
        "render",
        "--platform",
        "macos",
        "--home",
        hs,
        "--user",
        "daemon",
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    assert!(
        run.stdout.contains("org.cryptobot.serve.plist"),
        "{}",
        run.stdout
    );
    assert_eq!(mode(&out.join("cryptobot-macos.sh")), 0o755);

    // Stand-ins.
    let bin = dir.path().join("bin");
    let state = dir.path().join("state");
    std::fs::create_dir(&bin).unwrap();
    std::fs::create_dir(&state).unwrap();
    let log = dir.path().join("calls.log");
    let stub = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        chmod(&p, 0o755);
    };
    stub("id", "echo 0");
    stub("launchctl", "echo \"launchctl $*\" >> \"$LOG\"");
    stub("install", "echo \"install $*\" >> \"$LOG\"");
    stub(
        "dscl",
        r#"echo "dscl $*" >> "$LOG"
key="$STATE/$(echo "$3" | tr / _)"
case "$2" in
  -read) [ -e "$key" ] || exit 1; echo "$4: 1" ;;
  -create) touch "$key" ;;
  -list) printf 'a 499\nb 498\n' ;;
esac"#,
    );
    let strip = r#"for a in "$@"; do
  shift
  case "$a" in -h) continue ;; root:wheel) a=root:root ;; esac
  set -- "$@" "$a"
done"#;
    stub("chown", &format!("{strip}\nexec /bin/chown -h \"$@\""));
    stub("chmod", &format!("{strip}\nexec /bin/chmod \"$@\""));

    // Planted problems.
    let toml = home.join("config/cryptobot.toml");
    chmod(&toml, 0o666);
    let helper = home.join("data/helper");
    std::fs::write(&helper, "#!/bin/sh\n").unwrap();
    chmod(&helper, 0o4775);
    let secret = home.join("config/secrets/jwt_signing.key");
    chmod(&secret, 0o644);
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "x").unwrap();
    chmod(&outside, 0o666);
    symlink(&outside, home.join("data/escape")).unwrap();

    let script = out.join("cryptobot-macos.sh");
    let path = format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", bin.display());
    let sh = || {
        std::process::Command::new("/bin/sh")
            .arg(&script)
            .env("PATH", &path)
            .env("LOG", &log)
            .env("STATE", &state)
            .output()
            .unwrap()
    };
    let first = sh();
    let stderr = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(
        first.status.success(),
        "{stderr}\n{}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert!(
        stderr.contains("left alone:") && stderr.contains("escape"),
        "{stderr}"
    );

    let (uid, gid) = (1, 1); // daemon:daemon
    let expect: &[(&Path, u32, (u32, u32))] = &[
        (&home, 0o755, (0, 0)),
        (&toml, 0o640, (0, gid)),
        (&secret, 0o600, (uid, gid)),
        (&helper, 0o700, (uid, gid)),
        (&home.join("config/secrets"), 0o700, (uid, gid)),
        (&home.join("data"), 0o700, (uid, gid)),
        (&home.join("data/changes"), 0o700, (0, 0)),
        (&home.join("logs"), 0o750, (uid, gid)),
    ];
    for (p, m, owner) in expect {
        let md = std::fs::symlink_metadata(p).unwrap();
        assert_eq!(mode(p), *m, "mode of {}", p.display());
        assert_eq!((md.uid(), md.gid()), *owner, "owner of {}", p.display());
    }
    assert_eq!(mode(&outside), 0o666, "the file outside was touched");

    let calls = std::fs::read_to_string(&log).unwrap();
    for needle in [
        "dscl . -create /Groups/daemon PrimaryGroupID 497",
        "dscl . -create /Users/daemon UniqueID 497",
        "dscl . -create /Users/daemon UserShell /usr/bin/false",
        "dscl . -create /Users/daemon Password *",
        "install -o root -g wheel -m 0644",
        "launchctl bootstrap system /Library/LaunchDaemons/org.cryptobot.serve.plist",
    ] {
        assert!(calls.contains(needle), "{needle} missing from:\n{calls}");
    }
    // A second run creates no account again and still succeeds.
    std::fs::write(&log, "").unwrap();
    assert!(sh().status.success());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(!calls.contains("-create"), "{calls}");
}

#[test]
fn render_refuses_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, needle) in [
        (vec!["--platform", "solaris"], "solaris"),
        (vec!["--platform", "macos", "--user", "Bad:Name"], "--user"),
        (
            vec!["--platform", "macos", "--binary", "x/../y"],
            "--binary",
        ),
        (
            vec!["--platform", "macos", "--home", "/opt/with space"],
            "with space",
        ),
    ] {
        let mut all = vec!["permissions", "render", "--out", out];
        all.extend(args.iter().copied());
        let run = cryptobot(&all);
        assert_eq!(run.status, 2, "{all:?}: {}", run.both());
        assert!(run.stderr.contains(needle), "{}", run.stderr);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
