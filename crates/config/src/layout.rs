//! Where an installation keeps its files, and the modes they must have.
//!
//! All paths are *host* paths: what the target system sees. Under `--root R`
//! the plan executor maps `/opt/cryptobot` to `R/opt/cryptobot`; rendered
//! configuration files always name host paths.

use std::path::{Path, PathBuf};

/// The installation rooted at `home`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    home: PathBuf,
}

/// A directory of the layout and the mode it is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutDir {
    pub path: PathBuf,
    pub mode: u32,
    pub purpose: &'static str,
}

/// File names in `config/secrets/`: the one place they are spelled.
pub mod secret_files {
    /// Ed25519 key that signs access tokens (and its rotated siblings'
    /// prefix).
    pub const JWT_SIGNING_KEY: &str = "jwt_signing.key";
    /// Key for password-reset tokens.
    pub const RESET_TOKEN_KEY: &str = "reset_token.key";
    /// Master key (ring) of the exchange-key vault.
    pub const VAULT_MASTER_KEY: &str = "vault_master.key";
    /// Password of the Redis ACL user.
    pub const REDIS_PASSWORD: &str = "redis_password";
    /// Password of the PostgreSQL role.
    pub const POSTGRES_PASSWORD: &str = "postgres_password";
    /// Pepper mixed into every argon2id password hash.
    pub const PASSWORD_PEPPER: &str = "password_pepper.key";
}

/// Mode of files in `config/secrets/` and of TLS private keys.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of `config/cryptobot.toml`.
pub const CONFIG_FILE_MODE: u32 = 0o640;
/// Mode of rendered server configs that hold no secret (read by the
/// `postgres` and `redis` accounts).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

impl Layout {
    /// `home` must be absolute (the CLI makes a relative `--home` absolute).
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Layout { home: home.into() }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A path from the configuration: relative paths are below the home.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.home.join(path)
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home.join("config")
    }
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("cryptobot.toml")
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.config_dir().join("secrets")
    }
    pub fn secret(&self, name: &str) -> PathBuf {
        self.secrets_dir().join(name)
    }
    /// `config/secrets/jwt_signing.key`.
    pub fn jwt_signing_key(&self) -> PathBuf {
        self.secret(secret_files::JWT_SIGNING_KEY)
    }
    /// `config/secrets/reset_token.key`.
    pub fn reset_token_key(&self) -> PathBuf {
        self.secret(secret_files::RESET_TOKEN_KEY)
    }
    /// `config/secrets/password_pepper.key`.
    pub fn password_pepper(&self) -> PathBuf {
        self.secret(secret_files::PASSWORD_PEPPER)
    }
    /// `config/secrets/vault_master.key`.
    pub fn vault_master_key(&self) -> PathBuf {
        self.secret(secret_files::VAULT_MASTER_KEY)
    }
    /// `config/secrets/redis_password`.
    pub fn redis_password(&self) -> PathBuf {
        self.secret(secret_files::REDIS_PASSWORD)
    }
    /// `config/secrets/postgres_password`.
    pub fn postgres_password(&self) -> PathBuf {
        self.secret(secret_files::POSTGRES_PASSWORD)
    }
    pub fn tls_dir(&self) -> PathBuf {
        self.config_dir().join("tls")
    }
    pub fn redis_dir(&self) -> PathBuf {
        self.config_dir().join("redis")
    }
    pub fn redis_conf(&self) -> PathBuf {
        self.redis_dir().join("redis.conf")
    }
    /// `tls.conf`, included at the end of `redis.conf`.
    pub fn redis_include(&self) -> PathBuf {
        self.redis_dir().join("tls.conf")
    }
    pub fn postgres_dir(&self) -> PathBuf {
        self.config_dir().join("postgresql")
    }
    pub fn pg_hba(&self) -> PathBuf {
        self.postgres_dir().join("pg_hba.conf")
    }
    pub fn pg_ident(&self) -> PathBuf {
        self.postgres_dir().join("pg_ident.conf")
    }
    pub fn pg_include(&self) -> PathBuf {
        self.postgres_dir().join("cryptobot.conf")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }
    pub fn changes_dir(&self) -> PathBuf {
        self.data_dir().join("changes")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }
    pub fn backups_dir(&self) -> PathBuf {
        self.home.join("backups")
    }

    /// Every directory of the installation, parents first, with its mode.
    pub fn directories(&self) -> Vec<LayoutDir> {
        let dir = |path: PathBuf, mode: u32, purpose: &'static str| LayoutDir {
            path,
            mode,
            purpose,
        };
        vec![
            dir(self.home.clone(), 0o755, "installation home"),
            dir(self.config_dir(), 0o755, "configuration"),
            dir(self.secrets_dir(), 0o700, "generated secrets"),
            dir(self.tls_dir(), 0o700, "certificates and private keys"),
            dir(self.redis_dir(), 0o755, "rendered Redis configuration"),
            dir(
                self.postgres_dir(),
                0o755,
                "rendered PostgreSQL configuration",
            ),
            dir(self.data_dir(), 0o700, "databases and state"),
            dir(self.logs_dir(), 0o750, "logs"),
            dir(self.backups_dir(), 0o700, "backups"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_below_home() {
        let l = Layout::new("/opt/cryptobot");
        assert_eq!(
            l.resolve(Path::new("data/x.db")),
            PathBuf::from("/opt/cryptobot/data/x.db")
        );
        assert_eq!(
            l.resolve(Path::new("/srv/x.db")),
            PathBuf::from("/srv/x.db")
        );
    }

    #[test]
    fn directories_list_parents_first() {
        let l = Layout::new("/h");
        let dirs = l.directories();
        for (i, d) in dirs.iter().enumerate() {
            let parent = d.path.parent();
            if let Some(pos) = dirs.iter().position(|p| Some(p.path.as_path()) == parent) {
                assert!(pos < i, "{} listed before its parent", d.path.display());
            }
        }
    }
}
