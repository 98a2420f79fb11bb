//! A firewall whose own tool keeps its rules in files and loads them at
//! boot (ufw; firewalld would be another): what `cryptobot firewall apply`
//! saves, stages and puts back. Pure description, no I/O.
//!
//! Apply saves copies of the files as the *previous* state, runs the tool's
//! commands, saves the result as the *applied* state and puts the previous
//! files back on disk, so an apply that is never confirmed is never what
//! boots (the running firewall keeps the new rules). `confirm` writes the
//! applied files; a rollback puts the previous files back and runs
//! [`Managed::reload`] when the firewall was enabled before, or
//! [`Managed::disable`] when it was not.

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
        if was_enabled {
            self.reload
        } else {
            self.disable
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_file_names_carry_the_backend_and_the_key() {
        let m = crate::firewall::ufw::MANAGED;
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
    }
}
