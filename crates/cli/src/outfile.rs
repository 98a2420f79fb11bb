//! Writing a command's output files outside the installation (`--out DIR`,
//! `--ca-out DIR`): into an existing directory, atomically (temporary file,
//! `fsync`, rename), so a failure never leaves half a file behind.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

/// Writes `dir/name` with `mode`, replacing an older file atomically. The
/// temporary file is created with `O_EXCL` (never through a link).
pub fn write_atomic(dir: &Path, name: &str, content: &[u8], mode: u32) -> Result<(), Failure> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        Failure::runtime(
            format!("cannot write {}: {e}", target.display()),
            Some("check that the directory is writable".to_string()),
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(content).map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, &target).map_err(io)?;
    Ok(())
}
