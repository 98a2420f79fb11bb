//! Writing a command's output files outside the installation (`--out DIR`,
//! `--ca-out DIR`): into an existing directory, atomically (temporary file,
//! `fsync`, rename), so a failure never leaves half a file behind.

use std::path::Path;

use crate::context::Failure;

/// Refuses `dir` unless it is an existing directory (not a symbolic link).
pub fn existing_dir(dir: &Path, flag: &str) -> Result<(), Failure> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Failure::input(
            format!("{flag} {} is not a directory", dir.display()),
            Some("give an existing directory (a symbolic link is not followed)".into()),
        )),
        Err(e) => Err(Failure::input(
            format!("{flag} {}: {e}", dir.display()),
            Some(format!("create it first: mkdir -p {}", dir.display())),
        )),
    }
}

/// Writes `dir/name` with `mode`, replacing an older file atomically (see
/// [`cryptobot_plan::write_atomic`]).
pub fn write_atomic(dir: &Path, name: &str, content: &[u8], mode: u32) -> Result<(), Failure> {
    cryptobot_plan::write_atomic(dir, name, content, mode).map_err(|e| {
        Failure::runtime(
            format!("cannot write {}: {e}", dir.join(name).display()),
            Some("check that the directory is writable".to_string()),
        )
    })
}
