//! Planning and applying against real trees in temporary roots.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use common::*;
use cryptobot_plan::{ApplyError, Change, Content, Owner, Plan, PlanError, Planner, Root, apply};

fn desired(root: &Root) -> Plan {
    let mut p = Planner::new(root);
    p.ensure_dir(Path::new("/opt"), 0o755, None).unwrap();
    p.ensure_dir(
        Path::new("/opt/cb"),
        0o750,
        Some(Owner::new(1234, 1235, "cb", "cb")),
    )
    .unwrap();
    p.ensure_dir(Path::new("/opt/cb/config"), 0o755, None)
        .unwrap();
    p.ensure_file(
        Path::new("/opt/cb/config/redis.conf"),
        Content::Text(
            "bind 127.0.0.1\nport 6379\nprotected-mode yes\nmaxmemory 64mb\nappendonly yes\n"
                .into(),
        ),
        0o644,
        None,
    )
    .unwrap();
    p.ensure_file(
        Path::new("/opt/cb/config/app.toml"),
        Content::Text("[server]\nlisten = \"127.0.0.1:8443\"\n".into()),
        0o640,
        Some(Owner::new(0, 1235, "root", "cb")),
    )
    .unwrap();
    p.ensure_file(
        Path::new("/opt/cb/config/token"),
        Content::secret(b"tok-0123456789".to_vec()),
        0o600,
        Some(Owner::new(1234, 1235, "cb", "cb")),
    )
    .unwrap();
    p.finish()
}

#[test]
fn creates_the_tree_with_modes_and_owners() {
    let (_tmp, root) = new_root();
    let plan = desired(&root);
    let text = plan.render_text();
    assert!(
        text.contains("+ create dir /opt/cb (0750, cb:cb)\n"),
        "{text}"
    );
    assert!(
        text.contains("+ create file /opt/cb/config/redis.conf (0644)\n+bind 127.0.0.1\n"),
        "{text}"
    );
    assert!(
        text.contains("+ create file /opt/cb/config/token (0600, cb:cb, secret: 14 bytes, content not shown)\n"),
        "{text}"
    );
    let report = apply(&plan, &root, &opts("test")).unwrap();
    assert_eq!(report.applied, plan.len());
    let journal = report.journal.unwrap();
    assert!(journal.starts_with(JOURNAL));

    let m = fs::metadata(at(&root, "/opt/cb")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 1235));
    assert_eq!(mode_of(&root, "/opt/cb"), 0o750);
    let m = fs::metadata(at(&root, "/opt/cb/config/app.toml")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 1235));
    assert_eq!(mode_of(&root, "/opt/cb/config/app.toml"), 0o640);
    let m = fs::metadata(at(&root, "/opt/cb/config/token")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 1235));
    assert_eq!(
        fs::read(at(&root, "/opt/cb/config/token")).unwrap(),
        b"tok-0123456789"
    );
    // No temporary or hidden files are left behind.
    let names: Vec<_> = fs::read_dir(at(&root, "/opt/cb/config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn second_plan_is_empty_and_applying_it_touches_nothing() {
    let (_tmp, root) = new_root();
    apply(&desired(&root), &root, &opts("test")).unwrap();
    let runs_before = journal_runs(&root);
    let before = snapshot(&root);
    let journal_before = all_files(&at(&root, JOURNAL));

    let plan = desired(&root);
    assert!(plan.is_empty(), "{}", plan.render_text());
    assert_eq!(plan.render_text(), "nothing to do\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = apply(&plan, &root, &opts("test")).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.journal, None);

    assert_eq!(snapshot(&root), before, "mtimes or contents changed");
    assert_eq!(journal_runs(&root), runs_before, "a journal appeared");
    assert_eq!(all_files(&at(&root, JOURNAL)), journal_before);
}

#[test]
fn empty_plan_on_a_fresh_root_creates_nothing() {
    let (_tmp, root) = new_root();
    let report = apply(&Plan::new(), &root, &opts("test")).unwrap();
    assert_eq!(report.journal, None);
    assert!(fs::read_dir(root.path()).unwrap().next().is_none());
}

#[test]
fn modifying_one_file_gives_one_write_with_a_diff() {
    let (_tmp, root) = new_root();
    apply(&desired(&root), &root, &opts("test")).unwrap();
    let conf = "/opt/cb/config/redis.conf";
    let changed = read(&root, conf).replace("maxmemory 64mb", "maxmemory 1gb");
    write(&root, conf, &changed, 0o644);

    let plan = desired(&root);
    assert_eq!(plan.len(), 1, "{}", plan.render_text());
    match &plan.changes()[0] {
        Change::WriteFile {
            path,
            before: Some(b),
            ..
        } => {
            assert_eq!(path, Path::new(conf));
            assert_eq!(b.text.as_deref(), Some(changed.as_str()));
            assert_eq!(b.mode, 0o644);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = plan.render_text();
    let expected = "~ update file /opt/cb/config/redis.conf (0644)\n\
                    @@ -1,5 +1,5 @@\n bind 127.0.0.1\n port 6379\n protected-mode yes\n-maxmemory 1gb\n+maxmemory 64mb\n appendonly yes\n";
    assert_eq!(text, expected);
    apply(&plan, &root, &opts("test")).unwrap();
    assert!(read(&root, conf).contains("maxmemory 64mb"));
    assert!(desired(&root).is_empty());
}

#[test]
fn mode_and_owner_drift_give_only_set_mode_and_set_owner() {
    let (_tmp, root) = new_root();
    apply(&desired(&root), &root, &opts("test")).unwrap();
    fs::set_permissions(
        at(&root, "/opt/cb/config/redis.conf"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::os::unix::fs::chown(at(&root, "/opt/cb/config/app.toml"), Some(1000), Some(1000)).unwrap();
    let plan = desired(&root);
    assert_eq!(plan.len(), 2, "{}", plan.render_text());
    assert!(matches!(
        &plan.changes()[0],
        Change::SetMode { path, from: 0o666, to: 0o644 } if path == Path::new("/opt/cb/config/redis.conf")
    ));
    assert!(matches!(
        &plan.changes()[1],
        Change::SetOwner { from: (1000, 1000), to, .. } if to.uid == 0 && to.gid == 1235
    ));
    let text = plan.render_text();
    assert!(
        text.contains("~ chmod /opt/cb/config/redis.conf 0666 -> 0644\n"),
        "{text}"
    );
    assert!(
        text.contains("~ chown /opt/cb/config/app.toml 1000:1000 -> root:cb (0:1235)\n"),
        "{text}"
    );
    apply(&plan, &root, &opts("test")).unwrap();
    assert_eq!(mode_of(&root, "/opt/cb/config/redis.conf"), 0o644);
    let m = fs::metadata(at(&root, "/opt/cb/config/app.toml")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 1235));
    assert!(desired(&root).is_empty());
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn dirs_created_by_the_plan_need_no_mode_change() {
    let (_tmp, root) = new_root();
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/srv"), 0o755, None).unwrap();
    p.ensure_dir(Path::new("/srv"), 0o755, None).unwrap();
    p.ensure_mode(Path::new("/srv"), 0o755).unwrap();
    p.ensure_dir(Path::new("/srv/a"), 0o700, None).unwrap();
    let plan = p.finish();
    assert_eq!(plan.len(), 2, "{}", plan.render_text());
    // A different mode for the same path is a bug in the command.
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/srv"), 0o755, None).unwrap();
    assert!(matches!(
        p.ensure_mode(Path::new("/srv"), 0o700),
        Err(PlanError::Conflict { .. })
    ));
}

#[test]
fn ensure_dir_creates_missing_ancestors() {
    let (_tmp, root) = new_root();
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/opt/cryptobot/data"), 0o700, None)
        .unwrap();
    p.ensure_dir(Path::new("/opt/cryptobot"), 0o755, None)
        .unwrap();
    let plan = p.finish();
    assert_eq!(
        plan.render_text(),
        "+ create dir /opt (0755)\n+ create dir /opt/cryptobot (0755)\n+ create dir /opt/cryptobot/data (0700)\n"
    );
    apply(&plan, &root, &opts("test")).unwrap();
    assert_eq!(mode_of(&root, "/opt"), 0o755);
    assert_eq!(mode_of(&root, "/opt/cryptobot/data"), 0o700);
}

#[test]
fn missing_parent_is_refused_at_plan_time() {
    let (_tmp, root) = new_root();
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/nope/x.conf"),
            Content::Text("x".into()),
            0o644,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, PlanError::MissingParent { .. }), "{err}");
}

#[test]
fn secret_with_symlinked_parent_is_refused_and_nothing_is_written() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/real", 0o700);
    symlink("real", at(&root, "/secrets")).unwrap();
    let before = snapshot(&root);
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/secrets/key"),
            Content::secret(b"k".to_vec()),
            0o600,
            None,
        )
        .unwrap_err();
    match &err {
        PlanError::SymlinkParent { path, parent } => {
            assert_eq!(path, Path::new("/secrets/key"));
            assert_eq!(parent, Path::new("/secrets"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
    assert!(
        err.hint()
            .unwrap()
            .contains("real directory owned by root, mode 0700")
    );
    assert_eq!(snapshot(&root), before);

    // A hand-made plan is refused by the executor too, before writing anything.
    let plan: Plan = [Change::WriteFile {
        path: PathBuf::from("/secrets/key"),
        content: Content::secret(b"k".to_vec()),
        mode: 0o600,
        owner: None,
        before: None,
    }]
    .into_iter()
    .collect();
    let err = apply(&plan, &root, &opts("test")).unwrap_err();
    assert!(
        matches!(err, ApplyError::Plan(PlanError::SymlinkParent { .. })),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);
    assert!(!at(&root, "/real/key").exists());
    // The refused run was undone and marked.
    assert!(
        journal_runs(&root)
            .iter()
            .all(|r| r.ends_with(".rolled-back"))
    );
}

#[test]
fn secret_in_world_writable_dir_is_refused() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/shared", 0o777);
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/shared/key"),
            Content::secret(b"k".to_vec()),
            0o600,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, PlanError::UnsafeParent { mode: 0o777, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("0777"), "{err}");
    assert!(err.hint().unwrap().contains("chmod 0700 /shared"));
    assert!(!exists(&root, "/shared/key"));

    // Allowed when the same plan first makes the directory safe.
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/shared"), 0o700, None).unwrap();
    p.ensure_file(
        Path::new("/shared/key"),
        Content::secret(b"k".to_vec()),
        0o600,
        None,
    )
    .unwrap();
    let plan = p.finish();
    apply(&plan, &root, &opts("test")).unwrap();
    assert_eq!(mode_of(&root, "/shared"), 0o700);
    assert_eq!(fs::read(at(&root, "/shared/key")).unwrap(), b"k");

    // A new directory created safely by the plan is fine; an unsafe one is not.
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/pub"), 0o1777, None).unwrap();
    assert!(matches!(
        p.ensure_file(
            Path::new("/pub/key"),
            Content::secret(b"k".to_vec()),
            0o600,
            None
        ),
        Err(PlanError::UnsafeParent { .. })
    ));
}

#[test]
fn write_to_a_symlink_is_refused() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    write(&root, "/etc/real.conf", "original\n", 0o644);
    symlink("/etc/real.conf", at(&root, "/etc/link.conf")).unwrap();
    let before = snapshot(&root);
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/etc/link.conf"),
            Content::Text("new\n".into()),
            0o644,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, PlanError::SymlinkRefused { .. }), "{err}");
    let err = p
        .ensure_mode(Path::new("/etc/link.conf"), 0o600)
        .unwrap_err();
    assert!(matches!(err, PlanError::SymlinkRefused { .. }), "{err}");

    // Hand-made plans are refused by the executor.
    for change in [
        Change::WriteFile {
            path: PathBuf::from("/etc/link.conf"),
            content: Content::Text("new\n".into()),
            mode: 0o644,
            owner: None,
            before: None,
        },
        Change::SetMode {
            path: PathBuf::from("/etc/link.conf"),
            from: 0o777,
            to: 0o600,
        },
    ] {
        let plan: Plan = [change].into_iter().collect();
        let err = apply(&plan, &root, &opts("test")).unwrap_err();
        assert!(
            matches!(err, ApplyError::Plan(PlanError::SymlinkRefused { .. })),
            "{err}"
        );
    }
    assert_eq!(snapshot(&root), before);
    assert_eq!(read(&root, "/etc/real.conf"), "original\n");
}

#[test]
fn set_owner_on_a_symlink_changes_the_link_only() {
    let (_tmp, root) = new_root();
    write(&root, "/target", "t\n", 0o644);
    symlink("/target", at(&root, "/link")).unwrap();
    let mut p = Planner::new(&root);
    p.ensure_owner(Path::new("/link"), Owner::new(4321, 4321, "x", "x"))
        .unwrap();
    apply(&p.finish(), &root, &opts("test")).unwrap();
    let link = fs::symlink_metadata(at(&root, "/link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (4321, 4321));
    let target = fs::metadata(at(&root, "/target")).unwrap();
    assert_eq!((target.uid(), target.gid()), (0, 0));
}

#[test]
fn absolute_symlinks_never_leave_the_root() {
    let (_tmp, root) = new_root();
    let outside = tempfile::tempdir().unwrap();
    // ROOT/etc -> <outside>: resolved inside the root, i.e. ROOT/<outside>, which does not exist.
    symlink(outside.path(), at(&root, "/etc")).unwrap();
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/etc/evil.conf"),
            Content::Text("x".into()),
            0o644,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, PlanError::MissingParent { .. }), "{err}");
    // And a link to "/" means the root itself.
    fs::remove_file(at(&root, "/etc")).unwrap();
    mkdir(&root, "/data", 0o755);
    symlink("/", at(&root, "/up")).unwrap();
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/up/data/x.conf"),
        Content::Text("x\n".into()),
        0o644,
        None,
    )
    .unwrap();
    apply(&p.finish(), &root, &opts("test")).unwrap();
    assert_eq!(read(&root, "/data/x.conf"), "x\n");
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn stale_plan_is_refused_and_undone() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/etc/cb"), 0o755, None).unwrap();
    p.ensure_file(
        Path::new("/etc/x.conf"),
        Content::Text("new\n".into()),
        0o644,
        None,
    )
    .unwrap();
    let plan = p.finish();
    // Someone creates the file between plan and apply.
    write(&root, "/etc/x.conf", "theirs\n", 0o644);
    let before = tree(&root);
    let err = apply(&plan, &root, &opts("test")).unwrap_err();
    assert!(matches!(err, ApplyError::Stale { .. }), "{err}");
    assert!(err.hint().is_some());
    assert_eq!(tree(&root), before);
    assert_eq!(read(&root, "/etc/x.conf"), "theirs\n");
}

#[test]
fn secret_never_appears_in_renderings_errors_or_the_journal() {
    const SECRET: &str = "ZZ-very-distinctive-secret-4711-ZZ";
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    mkdir(&root, "/etc/cb", 0o700);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/cb/new.key"),
        Content::secret(SECRET.as_bytes().to_vec()),
        0o600,
        None,
    )
    .unwrap();
    let plan = p.finish();
    let outputs = [
        plan.render_text(),
        plan.to_json().to_string(),
        format!("{plan:?}"),
        format!("{:?}", plan.changes()),
        format!("{:#?}", Content::secret(SECRET.as_bytes().to_vec())),
    ];
    for out in &outputs {
        assert!(!out.contains(SECRET), "secret leaked: {out}");
        assert!(!out.contains("4711"), "secret leaked: {out}");
    }
    assert!(outputs[2].contains("[redacted]"));
    let json = plan.to_json();
    assert_eq!(json["changes"][0]["content"]["kind"], "secret");
    assert_eq!(json["changes"][0]["content"]["len"], SECRET.len());
    apply(&plan, &root, &opts("test")).unwrap();

    // Replace it with another secret: the old one must not be journaled either.
    let old = SECRET;
    let new_secret = "YY-second-distinctive-secret-0815-YY";
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/cb/new.key"),
        Content::secret(new_secret.as_bytes().to_vec()),
        0o600,
        None,
    )
    .unwrap();
    let plan = p.finish();
    let text = plan.render_text();
    assert!(
        text.contains("~ replace secret /etc/cb/new.key (0600, content not shown)"),
        "{text}"
    );
    for out in [text, plan.to_json().to_string(), format!("{plan:?}")] {
        assert!(
            !out.contains(old) && !out.contains(new_secret),
            "secret leaked: {out}"
        );
    }
    apply(&plan, &root, &opts("test")).unwrap();
    // A refused secret write: the error does not contain it.
    mkdir(&root, "/tmpx", 0o777);
    let mut p = Planner::new(&root);
    let err = p
        .ensure_file(
            Path::new("/tmpx/k"),
            Content::secret(SECRET.as_bytes().to_vec()),
            0o600,
            None,
        )
        .unwrap_err();
    assert!(!format!("{err} {err:?} {:?}", err.hint()).contains(SECRET));

    let files = all_files(&at(&root, JOURNAL));
    assert!(!files.is_empty());
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(old), "secret in {}", path.display());
        assert!(!text.contains(new_secret), "secret in {}", path.display());
    }
    // No hidden copies of the old secret are left beside the file.
    let names: Vec<_> = fs::read_dir(at(&root, "/etc/cb"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["new.key"]);
}

#[test]
fn json_has_typed_changes() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/a.conf"),
        Content::Text("x\n".into()),
        0o644,
        None,
    )
    .unwrap();
    p.push(Change::Run {
        program: PathBuf::from("/usr/bin/true"),
        args: vec!["--flag".into()],
        why: "because".into(),
        undo: Some((PathBuf::from("/usr/bin/true"), vec![])),
    });
    p.note("hello");
    let json = p.finish().to_json();
    assert_eq!(json["changes"][0]["op"], "write_file");
    assert_eq!(json["changes"][0]["path"], "/etc/a.conf");
    assert_eq!(json["changes"][0]["mode"], 0o644);
    assert_eq!(json["changes"][0]["content"]["text"], "x\n");
    assert_eq!(json["changes"][1]["op"], "run");
    assert_eq!(json["changes"][1]["undo"]["program"], "/usr/bin/true");
    assert_eq!(json["notes"][0], "hello");
}

#[test]
fn only_the_newest_journals_are_kept() {
    let (_tmp, root) = new_root();
    for i in 0..(cryptobot_plan::KEEP_JOURNALS + 3) {
        let mut p = Planner::new(&root);
        p.ensure_file(
            Path::new("/counter"),
            Content::Text(format!("{i}\n")),
            0o644,
            None,
        )
        .unwrap();
        apply(&p.finish(), &root, &opts("test")).unwrap();
    }
    let runs = journal_runs(&root);
    assert_eq!(runs.len(), cryptobot_plan::KEEP_JOURNALS);
    // Runs 3..=22 are kept; run i replaced "i-1".
    let mut replaced: Vec<u32> = runs
        .iter()
        .map(|r| {
            let b = fs::read_to_string(at(&root, &format!("{JOURNAL}/{r}/before/0"))).unwrap();
            b.trim().parse().unwrap()
        })
        .collect();
    replaced.sort_unstable();
    assert_eq!(replaced, (2..22).collect::<Vec<u32>>());
}

#[test]
fn root_must_exist() {
    let err = Root::new("/definitely/not/here").unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"));
    assert!(err.hint().unwrap().contains("mkdir -p"));
    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        Root::new(file.path()),
        Err(PlanError::RootNotADirectory { .. })
    ));
}

#[test]
fn journal_inside_a_directory_the_plan_creates() {
    let (_tmp, root) = new_root();
    let journal = "/opt/cb/data/changes";
    let desired = |root: &Root| {
        let mut p = Planner::new(root);
        p.ensure_dir(
            Path::new("/opt/cb"),
            0o750,
            Some(Owner::new(1234, 1234, "cb", "cb")),
        )
        .unwrap();
        p.ensure_dir(Path::new("/opt/cb/data"), 0o750, None)
            .unwrap();
        p.ensure_file(
            Path::new("/opt/cb/data/x"),
            Content::Text("x\n".into()),
            0o640,
            None,
        )
        .unwrap();
        p.finish()
    };
    let plan = desired(&root);
    let report = apply(
        &plan,
        &root,
        &cryptobot_plan::ApplyOptions::new(journal, "test"),
    )
    .unwrap();
    assert_eq!(report.applied, 4);
    // The directories the journal needed first were adopted: planned mode and owner.
    assert_eq!(mode_of(&root, "/opt"), 0o755);
    assert_eq!(mode_of(&root, "/opt/cb"), 0o750);
    assert_eq!(fs::metadata(at(&root, "/opt/cb")).unwrap().uid(), 1234);
    assert_eq!(mode_of(&root, "/opt/cb/data"), 0o750);
    assert_eq!(mode_of(&root, journal), 0o700);
    assert!(desired(&root).is_empty());

    // Rolling back removes the file and reports the directories it must keep.
    let report = cryptobot_plan::rollback(&root, Path::new(journal)).unwrap();
    assert!(!exists(&root, "/opt/cb/data/x"));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("/opt/cb/data") && n.contains("not empty")),
        "{:?}",
        report.notes
    );
}

/// A chmod planned below a directory another account owns: if that account
/// swaps a directory for a link to /etc between plan and apply, the change
/// must not land on /etc.
#[test]
fn links_planted_by_another_user_are_not_followed() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    write(&root, "/etc/shadow", "secret\n", 0o640);
    mkdir(&root, "/opt/cb/data/sub", 0o700);
    write(&root, "/opt/cb/data/sub/shadow", "x\n", 0o644);
    std::os::unix::fs::chown(at(&root, "/opt/cb/data"), Some(4242), Some(4242)).unwrap();
    let mut p = Planner::new(&root);
    p.ensure_mode(Path::new("/opt/cb/data/sub/shadow"), 0o666)
        .unwrap();
    p.ensure_owner(
        Path::new("/opt/cb/data/sub/shadow"),
        Owner::new(4242, 4242, "cb", "cb"),
    )
    .unwrap();
    let plan = p.finish();
    assert_eq!(plan.len(), 2, "{}", plan.render_text());
    fs::remove_dir_all(at(&root, "/opt/cb/data/sub")).unwrap();
    symlink("/etc", at(&root, "/opt/cb/data/sub")).unwrap();
    std::os::unix::fs::lchown(at(&root, "/opt/cb/data/sub"), Some(4242), Some(4242)).unwrap();
    let err = apply(&plan, &root, &opts("test")).unwrap_err();
    assert!(err.to_string().contains("symbolic link \"sub\""), "{err}");
    assert_eq!(mode_of(&root, "/etc/shadow"), 0o640);
    let m = fs::metadata(at(&root, "/etc/shadow")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // The same link in a directory only root can write is followed.
    std::os::unix::fs::chown(at(&root, "/opt/cb/data"), Some(0), Some(0)).unwrap();
    let mut p = Planner::new(&root);
    p.ensure_mode(Path::new("/opt/cb/data/sub/shadow"), 0o600)
        .unwrap();
    apply(&p.finish(), &root, &opts("test")).unwrap();
    assert_eq!(mode_of(&root, "/etc/shadow"), 0o600);
}
