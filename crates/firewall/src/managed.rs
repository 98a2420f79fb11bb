//! A firewall whose own tool keeps its rules in files and loads them at
//! boot (ufw, firewalld): what `cryptobot firewall apply` saves, stages and
//! puts back. Pure description, no I/O.
//!
//! Apply saves copies of the files as the *previous* state, runs the tool's
//! commands, saves the result as the *applied* state and puts the previous
//! files back on disk, so an apply that is never confirmed is never what
//! boots (the running firewall keeps the new rules). `confirm` writes the
//! applied files; a rollback puts the previous files back and runs
//! [`Managed::reload`] when the firewall was enabled before, or
//! [`Managed::disable`] when it was not.
//!
//! A file that did not exist (firewalld's `zones/cryptobot.xml` before the
//! first apply) is saved as an empty marker named like its state file plus
//! [`ABSENT_SUFFIX`]; putting it back means removing the file.

/// Suffix of the empty state file that records "this file did not exist".
pub const ABSENT_SUFFIX: &str = ".absent";

/// One file the firewall's tool writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedFile {
    /// Part of the state files' names (letters, digits, `.` and `-`).
    pub key: &'static str,
    /// The host path.
    pub path: &'static str,
    /// The mode a file that is missing is created with (an existing file
    /// keeps its own mode and owner).
    pub mode: u32,
    /// The firewall's package installs it: when it is missing, apply
    /// refuses. A file that is not required may be absent; a rollback then
    /// removes it again.
    pub required: bool,
}

/// The files and commands of one file-backed firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Managed {
    /// The backend's name, part of the state files' names.
    pub name: &'static str,
    /// The program (looked up in the sbin and bin directories).
    pub tool: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
    pub files: &'static [ManagedFile],
    /// Loads the files into the running firewall again.
    pub reload: &'static [&'static str],
    /// Stops the firewall (when it was not running before the apply).
    /// Empty when the tool cannot stop it (firewalld: apply requires it to
    /// be running, so a rollback always reloads).
    pub disable: &'static [&'static str],
}

impl Managed {
    /// `(applied, previous)` state file names of apply `id`, one pair per
    /// managed file, e.g. `applied-<id>.ufw.user.rules`.
    pub fn state_files(&self, id: &str) -> Vec<(String, String)> {
        self.files
            .iter()
            .map(|f| {
                (
                    format!("applied-{id}.{}.{}", self.name, f.key),
                    format!("previous-{id}.{}.{}", self.name, f.key),
                )
            })
            .collect()
    }

    /// The argument vector that brings the saved files into effect:
    /// [`Managed::reload`] when the firewall was enabled, else
    /// [`Managed::disable`].
    pub fn settle(&self, was_enabled: bool) -> &'static [&'static str] {
        if was_enabled || self.disable.is_empty() {
            self.reload
        } else {
            self.disable
        }
    }
}

/// The name of the marker that records that the file saved as `state`
/// did not exist.
pub fn absent_marker(state: &str) -> String {
    format!("{state}{ABSENT_SUFFIX}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_file_names_carry_the_backend_and_the_key() {
        let m = crate::render::ufw::MANAGED;
        let names = m.state_files("20261129T000000Z-1");
        assert_eq!(names.len(), m.files.len());
        assert_eq!(
            names[0],
            (
                "applied-20261129T000000Z-1.ufw.user.rules".to_string(),
                "previous-20261129T000000Z-1.ufw.user.rules".to_string()
            )
        );
        assert_eq!(m.settle(true), ["reload"]);
        assert_eq!(m.settle(false), ["--force", "disable"]);
        assert!(m.files.iter().all(|f| f.required));
        assert_eq!(
            super::absent_marker(&names[0].1),
            "previous-20261129T000000Z-1.ufw.user.rules.absent"
        );
    }

    #[test]
    fn firewalld_always_reloads_and_may_lack_its_zone_and_policy() {
        let m = crate::render::firewalld::MANAGED;
        assert_eq!(m.settle(true), ["--reload"]);
        assert_eq!(m.settle(false), ["--reload"]);
        let paths: Vec<(&str, bool)> = m.files.iter().map(|f| (f.path, f.required)).collect();
        assert_eq!(
            paths,
            [
                ("/etc/firewalld/zones/cryptobot.xml", false),
                ("/etc/firewalld/policies/cryptobot-egress.xml", false),
                ("/etc/firewalld/firewalld.conf", true),
                ("/etc/firewalld/firewalld.conf.old", false),
            ]
        );
        let names = m.state_files("x-1");
        assert_eq!(names[0].1, "previous-x-1.firewalld.zone.xml");
        assert!(m.files.iter().all(|f| f.mode == 0o644));
    }
}
