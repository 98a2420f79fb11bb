//! A rendered file, shared by the crates that render configuration for a
//! host without applying it (`cryptobot-harden`, `cryptobot-firewall`).

/// One rendered file: its conventional name and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// File name to save it as.
    pub name: &'static str,
    /// Where it is installed on the target, and how it is used.
    pub purpose: String,
    pub content: String,
    /// Whether the file is a script to run.
    pub executable: bool,
}
