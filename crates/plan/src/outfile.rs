//! Writing a file outside any plan (a command's `--out DIR`, the firewall
//! engine's own state files): into an existing directory, atomically.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `dir/name` with `mode`, replacing an older file atomically: a
/// temporary file created with `O_EXCL` (never through a link) and its final
/// mode, written, synced, then renamed over the target. On failure the
/// temporary file is removed and the target is untouched.
pub fn write_atomic(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::io::Result<()> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(content)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a", b"one", 0o600).unwrap();
        write_atomic(dir.path(), "a", b"two", 0o600).unwrap();
        let p = dir.path().join("a");
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("missing"), "a", b"x", 0o600).is_err());
    }
}
