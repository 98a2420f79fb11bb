//! Human-readable rendering of a plan (`--dry-run`).

use std::fmt::Write as _;
use std::path::Path;

use similar::TextDiff;

use crate::change::{Before, Change, Content, Owner, Plan};

impl Plan {
    /// The plan as a readable diff (what `--dry-run` prints). Secrets are never shown.
    pub fn render_text(&self) -> String {
        render_plan(self)
    }
}

fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("nothing to do\n");
    }
    for change in plan.changes() {
        render_change(&mut out, change);
    }
    for note in plan.notes() {
        let _ = writeln!(out, "# note: {note}");
    }
    sanitize(&out)
}

/// Replaces control characters (other than newline and tab) so that file
/// contents cannot drive the terminal that shows a dry run.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn p(path: &Path) -> std::borrow::Cow<'_, str> {
    path.to_string_lossy()
}

fn owner_short(o: &Owner) -> String {
    format!("{}:{}", o.user, o.group)
}

fn render_change(out: &mut String, change: &Change) {
    match change {
        Change::CreateDir { path, mode, owner } => {
            let _ = write!(out, "+ create dir {} ({mode:04o}", p(path));
            if let Some(o) = owner {
                let _ = write!(out, ", {}", owner_short(o));
            }
            out.push_str(")\n");
        }
        Change::WriteFile {
            path,
            content,
            mode,
            owner,
            before,
        } => render_write(out, path, content, *mode, owner.as_ref(), before.as_ref()),
        Change::SetMode { path, from, to } => {
            let _ = writeln!(out, "~ chmod {} {from:04o} -> {to:04o}", p(path));
        }
        Change::SetOwner { path, from, to } => {
            let _ = writeln!(out, "~ chown {} {}:{} -> {to}", p(path), from.0, from.1);
        }
        Change::EnsureGroup { name, system, gid } => {
            let mut attrs = Vec::new();
            if *system {
                attrs.push("system".to_owned());
            }
            if let Some(g) = gid {
                attrs.push(format!("gid {g}"));
            }
            let _ = write!(out, "+ group {name}");
            if !attrs.is_empty() {
                let _ = write!(out, " ({})", attrs.join(", "));
            }
            out.push('\n');
        }
        Change::EnsureUser {
            name,
            group,
            home,
            shell,
            system,
            uid,
        } => {
            let _ = write!(out, "+ user {name} (");
            if *system {
                out.push_str("system, ");
            }
            if let Some(u) = uid {
                let _ = write!(out, "uid {u}, ");
            }
            let _ = writeln!(out, "group {group}, home {}, shell {})", p(home), p(shell));
        }
        Change::Run {
            program, args, why, ..
        } => {
            let _ = write!(out, "! run {}", quote(&p(program)));
            for a in args {
                let _ = write!(out, " {}", quote(a));
            }
            if !why.is_empty() {
                let _ = write!(out, "  # {why}");
            }
            out.push('\n');
        }
        Change::RemoveFile { path, secret } => {
            let what = if *secret { "secret" } else { "file" };
            let _ = writeln!(out, "- remove {what} {}", p(path));
        }
        Change::RemoveDir { path } => {
            let _ = writeln!(out, "- remove dir {} (if empty)", p(path));
        }
        Change::RemoveGroup { name } => {
            let _ = writeln!(out, "- group {name}");
        }
        Change::RemoveUser { name } => {
            let _ = writeln!(out, "- user {name}");
        }
    }
}

fn render_write(
    out: &mut String,
    path: &Path,
    content: &Content,
    mode: u32,
    owner: Option<&Owner>,
    before: Option<&Before>,
) {
    // "(0644" or "(0640 -> 0644", then the owner part.
    let mut attrs = match before {
        Some(b) if b.mode != mode => format!("{:04o} -> {mode:04o}", b.mode),
        _ => format!("{mode:04o}"),
    };
    if let Some(o) = owner {
        match before {
            None => {
                let _ = write!(attrs, ", {}", owner_short(o));
            }
            Some(b) if (b.uid, b.gid) != o.ids() => {
                let _ = write!(attrs, ", owner {}:{} -> {o}", b.uid, b.gid);
            }
            Some(_) => {}
        }
    }
    match (content, before) {
        (Content::Secret(_), None) => {
            let _ = writeln!(
                out,
                "+ create file {} ({attrs}, secret: {} bytes, content not shown)",
                p(path),
                content.len()
            );
        }
        (Content::Secret(_), Some(_)) => {
            let _ = writeln!(
                out,
                "~ replace secret {} ({attrs}, content not shown)",
                p(path)
            );
        }
        (Content::Bytes(b), None) => {
            let _ = writeln!(
                out,
                "+ create file {} ({attrs}, binary: {} bytes)",
                p(path),
                b.len()
            );
        }
        (Content::Bytes(b), Some(_)) => {
            let _ = writeln!(
                out,
                "~ replace file {} ({attrs}, binary: {} bytes)",
                p(path),
                b.len()
            );
        }
        (Content::Text(text), None) => {
            let _ = writeln!(out, "+ create file {} ({attrs})", p(path));
            plus_lines(out, text);
        }
        (Content::Text(text), Some(b)) => match &b.text {
            Some(old) if old == text => {
                let _ = writeln!(
                    out,
                    "~ update file {} ({attrs}, content unchanged)",
                    p(path)
                );
            }
            Some(old) => {
                let _ = writeln!(out, "~ update file {} ({attrs})", p(path));
                let diff = TextDiff::from_lines(old.as_str(), text.as_str());
                let rendered = diff
                    .unified_diff()
                    .context_radius(3)
                    .missing_newline_hint(true)
                    .to_string();
                out.push_str(&rendered);
                if !rendered.is_empty() && !rendered.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "~ replace file {} ({attrs}, previous content not shown)",
                    p(path)
                );
                plus_lines(out, text);
            }
        },
    }
}

fn plus_lines(out: &mut String, text: &str) {
    for line in text.split_inclusive('\n') {
        out.push('+');
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// Quotes an argument for display only (commands are run as argv, never via a shell).
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | '=' | ':' | ',' | '+' | '@' | '%')
        });
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn renders_each_kind() {
        let mut plan = Plan::new();
        plan.push(Change::CreateDir {
            path: PathBuf::from("/opt/cb/config/secrets"),
            mode: 0o700,
            owner: None,
        });
        plan.push(Change::WriteFile {
            path: PathBuf::from("/opt/cb/a.conf"),
            content: Content::Text("a\nb\n".into()),
            mode: 0o644,
            owner: None,
            before: None,
        });
        plan.push(Change::SetMode {
            path: PathBuf::from("/x"),
            from: 0o644,
            to: 0o600,
        });
        plan.push(Change::SetOwner {
            path: PathBuf::from("/x"),
            from: (1000, 1000),
            to: Owner::new(998, 998, "cryptobot", "cryptobot"),
        });
        plan.push(Change::Run {
            program: PathBuf::from("/usr/sbin/xyz"),
            args: vec!["arg1".into(), "two words".into()],
            why: "reload".into(),
            undo: None,
        });
        let text = plan.render_text();
        assert!(
            text.contains("+ create dir /opt/cb/config/secrets (0700)\n"),
            "{text}"
        );
        assert!(
            text.contains("+ create file /opt/cb/a.conf (0644)\n+a\n+b\n"),
            "{text}"
        );
        assert!(text.contains("~ chmod /x 0644 -> 0600\n"), "{text}");
        assert!(
            text.contains("~ chown /x 1000:1000 -> cryptobot:cryptobot (998:998)\n"),
            "{text}"
        );
        assert!(
            text.contains("! run /usr/sbin/xyz arg1 'two words'  # reload\n"),
            "{text}"
        );
        assert_eq!(Plan::new().render_text(), "nothing to do\n");
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut plan = Plan::new();
        plan.push(Change::WriteFile {
            path: PathBuf::from("/x"),
            content: Content::Text("evil \u{1b}[2J\n".into()),
            mode: 0o644,
            owner: None,
            before: None,
        });
        let text = plan.render_text();
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("\\u{1b}[2J"));
    }
}
