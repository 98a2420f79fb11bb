//! nftables and iptables: the rules go straight into the kernel (one
//! transaction per family), the previous state is saved as a restore
//! script, and the boot files are the distribution's own
//! (`/etc/nftables.conf` with an include, `/etc/iptables/rules.v4|v6`).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use cryptobot_plan::{Change, Content, Planner, Root};

use cryptobot_config::Layout;

use super::arm::{arm, open_for_apply};
use super::clock::now_ms;
use super::error::LiveError;
use super::model::{self as live, IptState, LiveBackend, Pending};
use super::process::{IPT, not_here, run, tool, tool_failure};
use super::report::{ApplyOptions, ApplyReport, Armed, ArmedDetail, DryRun, PersistReport};
use super::state::{State, exists, read_host};
use crate::render::{firewalld, iptables, nftables, ufw};
use crate::rules::{Family, RuleSet};

// ----------------------------------------------------- the kernel's rules

/// Our rules as the kernel has them now.
pub(crate) enum Current {
    /// `nft -s list table inet cryptobot`, dynamic set members removed;
    /// `None` when the table does not exist.
    Nft(Option<String>),
    /// IPv4, IPv6.
    Ipt(Vec<IptState>),
}

impl Current {
    pub(crate) fn read(backend: LiveBackend) -> Result<Current, LiveError> {
        match backend {
            LiveBackend::Nftables => {
                let nft = tool("nft")?;
                let ran = run(&nft, &["-s", "list", "table", "inet", "cryptobot"], None)?;
                if ran.ok {
                    Ok(Current::Nft(Some(live::strip_dynamic_elements(
                        &ran.stdout,
                    ))))
                } else if ran.stderr.contains("No such file or directory") {
                    Ok(Current::Nft(None))
                } else {
                    Err(tool_failure("nft list table inet cryptobot", &ran))
                }
            }
            LiveBackend::Iptables => {
                let mut states = Vec::new();
                for (_, _, save, _) in IPT {
                    let ran = run(&tool(save)?, &["-t", "filter"], None)?;
                    if !ran.ok {
                        return Err(tool_failure(&format!("{save} -t filter"), &ran));
                    }
                    states.push(IptState::parse(&ran.stdout));
                }
                Ok(Current::Ipt(states))
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => Err(not_here(backend)),
        }
    }

    pub(crate) fn present(&self) -> bool {
        match self {
            Current::Nft(t) => t.is_some(),
            Current::Ipt(s) => s.iter().any(IptState::is_present),
        }
    }

    /// For the diff.
    pub(crate) fn listing(&self) -> String {
        match self {
            Current::Nft(t) => t.clone().unwrap_or_default(),
            Current::Ipt(s) => ipt_listing(s),
        }
    }
}

pub(crate) fn ipt_listing(states: &[IptState]) -> String {
    let mut o = String::new();
    for (st, name) in states.iter().zip(["IPv4", "IPv6"]) {
        o.push_str(&format!("# {name}\n"));
        o.push_str(&st.listing());
    }
    o
}

/// The rendered rules of `backend`: one file for nftables, IPv4 and IPv6
/// for iptables.
pub(crate) fn rendered(backend: LiveBackend, rules: &RuleSet) -> Vec<String> {
    match backend {
        LiveBackend::Nftables => vec![nftables::render(rules)],
        LiveBackend::Iptables => vec![
            iptables::render(rules, Family::V4),
            iptables::render(rules, Family::V6),
        ],
        LiveBackend::Ufw => vec![ufw::render(rules)],
        LiveBackend::Firewalld => vec![firewalld::zone(rules), firewalld::policy(rules)],
    }
}

/// `(load script, restore script)` per family.
pub(crate) fn scripts(files: &[String], current: &Current, id: &str) -> Vec<(String, String)> {
    match current {
        Current::Nft(prev) => files
            .iter()
            .map(|f| (f.clone(), live::nft_restore_script(prev.as_deref(), id)))
            .collect(),
        Current::Ipt(states) => files
            .iter()
            .zip(states)
            .zip([Family::V4, Family::V6])
            .map(|((f, st), family)| (live::ipt_load_script(f, st), st.restore_script(family, id)))
            .collect(),
    }
}

/// `nft -c` / `iptables-restore --test` on each script.
pub(crate) fn check(backend: LiveBackend, texts: &[&str], what: &str) -> Result<(), LiveError> {
    for (i, text) in texts.iter().enumerate() {
        let (program, args, shown): (PathBuf, &[&str], &str) = match backend {
            LiveBackend::Nftables => (tool("nft")?, &["-c", "-f", "/dev/stdin"], "nft -c -f"),
            LiveBackend::Iptables => {
                let (_, restore, _, _) = IPT[i.min(1)];
                (
                    tool(restore)?,
                    &["--test", "--noflush"],
                    if i == 0 {
                        "iptables-restore --test"
                    } else {
                        "ip6tables-restore --test"
                    },
                )
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => return Ok(()),
        };
        let ran = run(&program, args, Some(text))?;
        if !ran.ok {
            return Err(tool_failure(&format!("{shown} on {what}"), &ran));
        }
    }
    Ok(())
}

/// Loads the files (one transaction per family). When IPv6 fails after
/// IPv4 was loaded, IPv4 is restored from `undo`.
pub(crate) fn load(
    backend: LiveBackend,
    files: &[PathBuf],
    undo: &[PathBuf],
) -> Result<(), LiveError> {
    match backend {
        LiveBackend::Nftables => {
            let nft = tool("nft")?;
            for f in files {
                let ran = run(&nft, &["-f", &f.to_string_lossy()], None)?;
                if !ran.ok {
                    return Err(tool_failure("nft -f", &ran));
                }
            }
            Ok(())
        }
        LiveBackend::Iptables => {
            for (i, f) in files.iter().enumerate() {
                let (_, restore, _, _) = IPT[i.min(1)];
                let ran = run(&tool(restore)?, &["--noflush", &f.to_string_lossy()], None)?;
                if !ran.ok {
                    for (j, u) in undo.iter().enumerate().take(i) {
                        let (_, restore, _, _) = IPT[j.min(1)];
                        let _ = run(&tool(restore)?, &["--noflush", &u.to_string_lossy()], None);
                    }
                    return Err(tool_failure(&format!("{restore} --noflush"), &ran));
                }
            }
            Ok(())
        }
        LiveBackend::Ufw | LiveBackend::Firewalld => Err(not_here(backend)),
    }
}

/// Puts back the state saved before apply `id`. `Ok(what was done)`, or
/// `Err(what went wrong)`. When the saved state cannot be loaded, our rules
/// are removed instead: an open host is better than a locked-out one.
pub(crate) fn restore(backend: LiveBackend, state: &State, id: &str) -> Result<String, String> {
    let fail = |f: LiveError| f.message;
    match backend {
        LiveBackend::Nftables => {
            let nft = tool("nft").map_err(fail)?;
            let (_, previous) = &backend.state_files(id)[0];
            let path = state.path(previous);
            let ran = run(&nft, &["-f", &path.to_string_lossy()], None).map_err(fail)?;
            if ran.ok {
                return Ok(format!("loaded {}", path.display()));
            }
            let removed =
                run(&nft, &["delete", "table", "inet", "cryptobot"], None).map_err(fail)?;
            if removed.ok {
                Ok(format!(
                    "could not load {} ({}); deleted table inet cryptobot instead",
                    path.display(),
                    ran.error()
                ))
            } else {
                Err(format!(
                    "could not load {} ({}) nor delete table inet cryptobot ({})",
                    path.display(),
                    ran.error(),
                    removed.error()
                ))
            }
        }
        LiveBackend::Iptables => {
            let mut done = Vec::new();
            let mut errors = Vec::new();
            for ((_, previous), (_, restore, save, cmd)) in backend.state_files(id).iter().zip(IPT)
            {
                let path = state.path(previous);
                let program = tool(restore).map_err(fail)?;
                let ran =
                    run(&program, &["--noflush", &path.to_string_lossy()], None).map_err(fail)?;
                if ran.ok {
                    done.push(format!("loaded {}", path.display()));
                    continue;
                }
                // Unhook and remove our chains one by one.
                let cmd = tool(cmd).map_err(fail)?;
                let mut steps: Vec<Vec<&str>> = vec![
                    vec!["-D", "INPUT", "-j", "CRYPTOBOT-INPUT"],
                    vec!["-D", "OUTPUT", "-j", "CRYPTOBOT-OUTPUT"],
                ];
                for c in iptables::CHAINS {
                    steps.push(vec!["-F", c]);
                }
                for c in iptables::CHAINS {
                    steps.push(vec!["-X", c]);
                }
                for s in &steps {
                    let _ = run(&cmd, s, None);
                }
                let left = match tool(save) {
                    Ok(save) => run(&save, &["-t", "filter"], None)
                        .map(|r| !r.ok || IptState::parse(&r.stdout).is_present())
                        .unwrap_or(true),
                    Err(_) => true,
                };
                if left {
                    errors.push(format!(
                        "could not load {} ({}) nor remove the CRYPTOBOT-* chains",
                        path.display(),
                        ran.error()
                    ));
                } else {
                    done.push(format!(
                        "could not load {} ({}); removed the CRYPTOBOT-* chains instead",
                        path.display(),
                        ran.error()
                    ));
                }
            }
            if errors.is_empty() {
                Ok(done.join("; "))
            } else {
                Err(errors.join("; "))
            }
        }
        LiveBackend::Ufw | LiveBackend::Firewalld => Err(not_here(backend).message),
    }
}

/// The new rules as the kernel lists them, from a throwaway network
/// namespace (`unshare --net cryptobot firewall normalize`), so the diff
/// compares like with like.
pub(crate) fn normalized(backend: LiveBackend, files: &[String]) -> Result<String, String> {
    let unshare = tool("unshare").map_err(|f| f.message)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let exe = exe.to_string_lossy().into_owned();
    let inputs: Vec<String> = match backend {
        LiveBackend::Nftables => files.to_vec(),
        LiveBackend::Iptables => files
            .iter()
            .map(|f| live::ipt_load_script(f, &IptState::default()))
            .collect(),
        LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(backend).message),
    };
    let input = serde_json::to_string(&inputs).map_err(|e| e.to_string())?;
    let ran = run(
        &unshare,
        &[
            "--net",
            "--",
            &exe,
            "firewall",
            "normalize",
            "--backend",
            backend.as_str(),
        ],
        Some(&input),
    )
    .map_err(|f| f.message)?;
    if ran.ok {
        Ok(ran.stdout)
    } else {
        Err(ran.error())
    }
}

/// `cryptobot firewall normalize` (hidden): loads the rules given on
/// standard input (a JSON list, one text per family) and returns them as
/// the kernel lists them. Refuses to run anywhere but in a network namespace
/// that has only a loopback interface and no rules, i.e. the fresh one
/// `unshare --net` made for it.
pub(crate) fn normalize(backend: LiveBackend) -> Result<String, LiveError> {
    if backend.managed().is_some() {
        return Err(LiveError::input(
            "`firewall normalize` handles nftables and iptables only",
            Some(
                "`cryptobot firewall apply --backend ufw|firewalld --dry-run` shows what would change"
                    .to_string(),
            ),
        ));
    }
    let only_lo = std::fs::read_to_string("/proc/self/net/dev")
        .map(|t| {
            t.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .all(|name| name.trim() == "lo")
        })
        .unwrap_or(false);
    let no_rules = || -> Result<bool, LiveError> {
        Ok(match backend {
            LiveBackend::Nftables => {
                let ran = run(&tool("nft")?, &["list", "ruleset"], None)?;
                ran.ok && ran.stdout.trim().is_empty()
            }
            LiveBackend::Iptables => {
                let mut empty = true;
                for (_, _, save, _) in IPT {
                    let ran = run(&tool(save)?, &[], None)?;
                    empty &= ran.ok && !ran.stdout.lines().any(|l| l.starts_with("-A "));
                }
                empty
            }
            LiveBackend::Ufw | LiveBackend::Firewalld => false,
        })
    };
    if !only_lo || !no_rules()? {
        return Err(LiveError::input(
            "`firewall normalize` runs only in a new, empty network namespace",
            Some("it is used by `cryptobot firewall apply --dry-run`; use that".to_string()),
        ));
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| LiveError::runtime(format!("cannot read the rules: {e}"), None))?;
    let texts: Vec<String> = serde_json::from_str(&input)
        .map_err(|e| LiveError::input(format!("cannot read the rules: {e}"), None))?;
    match backend {
        LiveBackend::Nftables => {
            let nft = tool("nft")?;
            for t in &texts {
                let ran = run(&nft, &["-f", "/dev/stdin"], Some(t))?;
                if !ran.ok {
                    return Err(tool_failure("nft -f", &ran));
                }
            }
            let ran = run(&nft, &["-s", "list", "table", "inet", "cryptobot"], None)?;
            if !ran.ok {
                return Err(tool_failure("nft list table inet cryptobot", &ran));
            }
            Ok(live::strip_dynamic_elements(&ran.stdout))
        }
        LiveBackend::Iptables => {
            let mut states = Vec::new();
            for (t, (_, restore, save, _)) in texts.iter().zip(IPT) {
                let ran = run(&tool(restore)?, &["--noflush"], Some(t))?;
                if !ran.ok {
                    return Err(tool_failure(restore, &ran));
                }
                let ran = run(&tool(save)?, &["-t", "filter"], None)?;
                if !ran.ok {
                    return Err(tool_failure(save, &ran));
                }
                states.push(IptState::parse(&ran.stdout));
            }
            Ok(ipt_listing(&states))
        }
        b @ (LiveBackend::Ufw | LiveBackend::Firewalld) => Err(not_here(b)),
    }
}

/// The boot files of a confirmed apply, from the rules it loaded.
pub(crate) fn persisted_files(state: &State, p: &Pending) -> Result<Vec<String>, LiveError> {
    let files = p
        .backend
        .state_files(&p.id)
        .iter()
        .map(|(a, _)| {
            state.read(a)?.ok_or_else(|| {
                LiveError::runtime(format!("{} is missing", state.path(a).display()), None)
            })
        })
        .collect::<Result<Vec<String>, LiveError>>()?;
    Ok(boot_contents(p.backend, &files))
}

/// One journaled `run` per family: it checks the loaded rules (nothing
/// changes), and its undo loads the state before the apply, which is how
/// `cryptobot rollback` takes a confirmed apply back.
pub(crate) fn rollback_changes(state: &State, p: &Pending) -> Result<Vec<Change>, LiveError> {
    let mut changes = Vec::new();
    for ((applied, previous), (_, restore_tool, _, _)) in
        p.backend.state_files(&p.id).iter().zip(IPT)
    {
        let applied = state.path(applied).to_string_lossy().into_owned();
        let previous = state.path(previous).to_string_lossy().into_owned();
        let (program, check, undo): (PathBuf, &[&str], &[&str]) = match p.backend {
            LiveBackend::Nftables => (tool("nft")?, &["-c", "-f"], &["-f"]),
            LiveBackend::Iptables => (
                tool(restore_tool)?,
                &["--test", "--noflush"],
                &["--noflush"],
            ),
            LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(p.backend)),
        };
        let with = |flags: &[&str], file: &str| -> Vec<String> {
            flags
                .iter()
                .map(|f| (*f).to_string())
                .chain([file.to_string()])
                .collect()
        };
        changes.push(Change::Run {
            program: program.clone(),
            args: with(check, &applied),
            why: format!(
                "confirmed firewall apply {} (rollback restores the rules before it)",
                p.id
            ),
            undo: Some((program, with(undo, &previous))),
        });
    }
    Ok(changes)
}

// ------------------------------------------------------------- persist

/// The boot files' contents from the rendered files.
pub(crate) fn boot_contents(backend: LiveBackend, files: &[String]) -> Vec<String> {
    match backend {
        LiveBackend::Nftables => files.to_vec(),
        LiveBackend::Iptables => files
            .iter()
            .zip([Family::V4, Family::V6])
            .map(|(f, family)| live::ipt_boot_file(f, family))
            .collect(),
        // Not used: the managed files are written as the tool left them.
        LiveBackend::Ufw | LiveBackend::Firewalld => files.to_vec(),
    }
}

/// Adds the boot files to `planner`; returns the paths it manages.
pub(crate) fn plan_persist(
    planner: &mut Planner,
    root: &Root,
    backend: LiveBackend,
    boot: &[String],
) -> Result<Vec<String>, LiveError> {
    let mut paths = Vec::new();
    match backend {
        LiveBackend::Nftables => {
            let content = boot.first().cloned().unwrap_or_default();
            if !exists(root, live::NFT_BOOT_DIR)? {
                planner.ensure_dir(Path::new(live::NFT_BOOT_DIR), 0o755, None)?;
            }
            planner.ensure_file(
                Path::new(live::NFT_BOOT_FILE),
                Content::Text(content),
                0o644,
                None,
            )?;
            paths.push(live::NFT_BOOT_FILE.to_string());
            let conf = read_host(root, live::NFT_CONF)?;
            let mode = conf.as_ref().map(|(_, m)| *m).unwrap_or(0o755);
            if let Some(new) = live::nft_conf_with_include(conf.as_ref().map(|(t, _)| t.as_str())) {
                planner.ensure_file(Path::new(live::NFT_CONF), Content::Text(new), mode, None)?;
            }
            paths.push(format!(
                "{} (include \"{}\")",
                live::NFT_CONF,
                live::NFT_BOOT_FILE
            ));
            let enabled = [
                "/etc/systemd/system/sysinit.target.wants/nftables.service",
                "/etc/systemd/system/multi-user.target.wants/nftables.service",
            ]
            .iter()
            .map(|p| exists(root, p))
            .collect::<Result<Vec<bool>, LiveError>>()?
            .into_iter()
            .any(|b| b);
            if !enabled {
                planner.note(format!(
                    "nftables.service is not enabled: `systemctl enable nftables` makes it load {} at boot",
                    live::NFT_CONF
                ));
            }
        }
        LiveBackend::Iptables => {
            let mut dir_planned = exists(root, live::IPTABLES_BOOT_DIR)?;
            for (content, path) in boot
                .iter()
                .zip([live::IPTABLES_BOOT_V4, live::IPTABLES_BOOT_V6])
            {
                let current = read_host(root, path)?;
                match &current {
                    Some((text, _)) if !live::is_ours(text) => {
                        planner.note(format!(
                            "left {path} alone: it holds a whole filter table that cryptobot did not write; add the CRYPTOBOT-* chains from `cryptobot firewall render --backend iptables` to it yourself"
                        ));
                        continue;
                    }
                    _ => {}
                }
                if !dir_planned {
                    planner.ensure_dir(Path::new(live::IPTABLES_BOOT_DIR), 0o755, None)?;
                    dir_planned = true;
                }
                let mode = current.as_ref().map(|(_, m)| *m).unwrap_or(0o640);
                planner.ensure_file(Path::new(path), Content::Text(content.clone()), mode, None)?;
                paths.push(path.to_string());
            }
            if !exists(root, "/usr/sbin/netfilter-persistent")? {
                planner.note("iptables-persistent is not installed: `apt-get install iptables-persistent` loads /etc/iptables/rules.v4 and rules.v6 at boot");
            }
        }
        LiveBackend::Ufw | LiveBackend::Firewalld => return Err(not_here(backend)),
    }
    Ok(paths)
}

// ------------------------------------------------------------- apply

/// `firewall apply` with nftables or iptables.
pub(crate) fn apply(
    layout: &Layout,
    backend: LiveBackend,
    rules: &RuleSet,
    opts: &ApplyOptions,
) -> Result<ApplyReport, LiveError> {
    let files = rendered(backend, rules);
    let texts: Vec<&str> = files.iter().map(String::as_str).collect();
    check(backend, &texts, "the new rules")?;
    let current = Current::read(backend)?;

    if opts.dry_run {
        return Ok(ApplyReport::DryRun(dry_run(backend, &files, &current)));
    }

    let (state, _lock) = open_for_apply(layout)?;
    let now = now_ms();
    let id = live::new_id(now, std::process::id());
    let pairs = scripts(&files, &current, &id);
    let previous: Vec<&str> = pairs.iter().map(|(_, p)| p.as_str()).collect();
    check(backend, &previous, "the saved previous rules").map_err(|f| {
        f.with_hint(Some("the active rules could not be saved in a form that loads again, so they could not be rolled back; nothing was changed".to_string()))
    })?;
    let names = backend.state_files(&id);
    let mut applied_paths = Vec::new();
    let mut previous_paths = Vec::new();
    for ((applied, prev), (a_name, p_name)) in pairs.iter().zip(&names) {
        state.write(p_name, prev)?;
        state.write(a_name, applied)?;
        applied_paths.push(state.path(a_name));
        previous_paths.push(state.path(p_name));
    }
    let deadline = now + opts.confirm_within * 1000;
    let pending = Pending {
        format: live::PENDING_FORMAT.into(),
        id: id.clone(),
        backend,
        applied_unix_ms: now,
        deadline_unix_ms: deadline,
        persist: !opts.no_persist,
        previous_present: current.present(),
    };
    arm(layout, &state, &pending)?;
    if let Err(f) = load(backend, &applied_paths, &previous_paths) {
        // The watchdog sees the marker gone and ends.
        let _ = state.remove(live::PENDING_FILE);
        state.log(&format!(
            "apply {id}: loading the new rules failed: {}",
            f.message
        ));
        return Err(f);
    }
    state.log(&format!(
        "apply {id}: new {} rules active; the previous state comes back at {} unless confirmed",
        backend.as_str(),
        live::rfc3339(deadline)
    ));
    state.prune(&id);

    Ok(ApplyReport::Armed(Armed {
        backend,
        id,
        confirm_within: opts.confirm_within,
        deadline_unix_ms: deadline,
        persist: !opts.no_persist,
        previous: state.path(&names[0].1),
        log: state.logs.join(live::LOG_FILE),
        detail: ArmedDetail::Kernel,
    }))
}

fn dry_run(backend: LiveBackend, files: &[String], current: &Current) -> DryRun {
    let old = current.listing();
    let (new, note) = match normalized(backend, files) {
        Ok(listing) => (listing, None),
        Err(e) => (
            files.join("\n"),
            Some(format!(
                "the new rules are shown as rendered, not as the kernel lists them ({e})"
            )),
        ),
    };
    let (what, have) = match backend {
        LiveBackend::Nftables => ("table inet cryptobot", "has"),
        LiveBackend::Iptables => ("CRYPTOBOT-* chains", "have"),
        LiveBackend::Ufw | LiveBackend::Firewalld => ("rules", "have"),
    };
    let old_name = if current.present() {
        format!("active ({what})")
    } else {
        format!("active (no {what})")
    };
    let diff = live::unified_diff(&old, &new, &old_name, "new");
    DryRun::Kernel {
        backend,
        present: current.present(),
        what,
        have,
        diff,
        note,
    }
}

// ------------------------------------------------------------- persist

/// `firewall persist` with nftables or iptables: the boot files, as a
/// journaled plan (`dry_run`: the plan only).
pub(crate) fn persist(
    root: &Root,
    layout: &Layout,
    backend: LiveBackend,
    rules: &RuleSet,
    dry_run: bool,
) -> Result<PersistReport, LiveError> {
    let files = rendered(backend, rules);
    let mut notes = Vec::new();
    // The kernel's own parser, in check mode (nothing is loaded), when it
    // can be asked.
    let texts: Vec<&str> = files.iter().map(String::as_str).collect();
    if rustix::process::geteuid().is_root()
        && tool(if backend == LiveBackend::Nftables {
            "nft"
        } else {
            "iptables-restore"
        })
        .is_ok()
    {
        check(backend, &texts, "the rules")?;
    } else {
        notes.push(format!(
            "the rules were not checked with {} (needs root and the tool)",
            if backend == LiveBackend::Nftables {
                "`nft -c`"
            } else {
                "`iptables-restore --test`"
            }
        ));
    }
    let boot = boot_contents(backend, &files);
    let mut planner = Planner::new(root);
    let paths = plan_persist(&mut planner, root, backend, &boot)?;
    let plan = planner.finish();
    if dry_run {
        return Ok(PersistReport::DryRun {
            backend,
            plan,
            notes,
        });
    }
    notes.extend(plan.notes().iter().cloned());
    let report = cryptobot_plan::apply(
        &plan,
        root,
        &cryptobot_plan::ApplyOptions {
            journal_dir: layout.changes_dir(),
            command: "firewall persist".into(),
        },
    )?;
    Ok(PersistReport::Applied {
        backend,
        plan,
        paths,
        report,
        notes,
    })
}
