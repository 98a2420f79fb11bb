//! `cryptobot secure-config`: the installation layout, the secrets, the
//! default configuration file, and hardened Redis and PostgreSQL
//! configuration — as one plan.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cryptobot_config::{
    CONFIG_FILE_MODE, Config, Layout, PUBLIC_FILE_MODE, SECRET_FILE_MODE, Settings,
};
use cryptobot_plan::{Content, Plan, PlanError, Planner, Root};
use secrecy::{ExposeSecret, SecretBox};

use crate::render::{self, UnquotablePath};
use crate::secrets::{SecretBytes, SecretName, Weakness, redis_password_hash};

/// What the operator asked for beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Secrets to replace even though they are strong.
    pub rotate: Vec<SecretName>,
    /// Write the default `cryptobot.toml` because none exists yet.
    pub write_default_config: bool,
}

/// What happens to one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretAction {
    Generated,
    Kept,
    Replaced(Weakness),
    Rotated,
}

impl SecretAction {
    pub fn verb(self) -> &'static str {
        match self {
            SecretAction::Generated => "generated",
            SecretAction::Kept => "kept",
            SecretAction::Replaced(_) => "replaced",
            SecretAction::Rotated => "rotated",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretOutcome {
    pub name: SecretName,
    pub path: PathBuf,
    pub action: SecretAction,
}

/// The computed plan and what it means for each secret.
#[derive(Debug)]
pub struct SecureConfigPlan {
    pub plan: Plan,
    pub secrets: Vec<SecretOutcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("refusing to use {path}: it is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("refusing to use {path}: it is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
    #[error(
        "{path} is {weakness}; it is never replaced automatically, because {}", name.guarded()
    )]
    VaultKeyUnusable {
        path: PathBuf,
        weakness: Weakness,
        name: SecretName,
    },
    #[error("refusing to rotate {name}: {}", name.guarded())]
    GuardedRotation { name: SecretName },
    #[error(transparent)]
    Unquotable(#[from] UnquotablePath),
}

impl HardenError {
    /// One sentence telling the operator how to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            HardenError::Plan(e) => e.hint(),
            HardenError::Symlink { .. } => Some(
                "replace the link with a real file or directory (secrets are never written through links)".into(),
            ),
            HardenError::NotAFile { .. } => Some("move it away and run the command again".into()),
            HardenError::Read { .. } => Some("check the file's owner and mode, or run as the installation's owner".into()),
            HardenError::Random(_) => None,
            HardenError::VaultKeyUnusable { name, .. } | HardenError::GuardedRotation { name }
                if *name == SecretName::PasswordPepper =>
            {
                Some("restore the original pepper from a backup; only if no user exists yet, delete the file and run secure-config again".into())
            }
            HardenError::VaultKeyUnusable { .. } | HardenError::GuardedRotation { .. } => Some(
                "if nothing has been stored in the vault yet, delete the file and run secure-config again; otherwise restore the original key from a backup".into(),
            ),
            HardenError::Unquotable(_) => Some("choose an installation directory whose path has no quotes or backslashes".into()),
        }
    }
}

/// Reads a file under the root without following symbolic links.
fn read_no_follow(root: &Root, host_path: &Path) -> Result<Option<SecretBytes>, HardenError> {
    let real = root.host(host_path)?;
    match std::fs::symlink_metadata(&real) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(HardenError::Read {
                path: host_path.to_path_buf(),
                source,
            });
        }
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(HardenError::Symlink {
                path: host_path.to_path_buf(),
            });
        }
        Ok(meta) if !meta.is_file() => {
            return Err(HardenError::NotAFile {
                path: host_path.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let bytes = std::fs::read(&real).map_err(|source| HardenError::Read {
        path: host_path.to_path_buf(),
        source,
    })?;
    Ok(Some(SecretBox::new(bytes.into_boxed_slice())))
}

/// Refuses a symbolic link anywhere from the home down to `dir`.
fn refuse_links_below_home(root: &Root, layout: &Layout, dir: &Path) -> Result<(), HardenError> {
    let mut cur = layout.home().to_path_buf();
    let rel = dir.strip_prefix(layout.home()).unwrap_or(Path::new(""));
    let check = |p: &Path| -> Result<(), HardenError> {
        let real = root.host(p)?;
        match std::fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => Err(HardenError::Symlink {
                path: p.to_path_buf(),
            }),
            _ => Ok(()),
        }
    };
    check(&cur)?;
    for part in rel.components() {
        cur.push(part);
        check(&cur)?;
    }
    Ok(())
}

/// The default `cryptobot.toml`: every setting, commented out at its
/// default, except the CORS allow-list which the guide asks to set.
pub fn default_config_text() -> String {
    let body = toml::to_string(&Settings::default()).unwrap_or_default();
    let mut out = String::from(
        "# Cryptobot configuration. Every setting is shown at its default; uncomment to change.\n\
         # Any key can be overridden by an environment variable CRYPTOBOT_<SECTION>__<KEY>,\n\
         # e.g. CRYPTOBOT_SECURITY__MFA__REQUIRED_FOR_ADMINS=false.\n\
         # Secrets never go here: they live in config/secrets/ (mode 0600).\n\
         # Check with `cryptobot config check`; see effective values with `cryptobot config show`.\n",
    );
    let mut section = String::new();
    for line in body.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        }
        let active =
            line == "[server]" || (section == "[server]" && line.starts_with("cors_origins"));
        if line.is_empty() {
            out.push('\n');
        } else if active {
            out.push_str(line);
            out.push('\n');
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Whether every one of these host files exists (a TLS pair `cryptobot ssl`
/// made): the includes turn TLS on only then, as the servers refuse to
/// start with it on and a file missing.
fn files_present(root: &Root, files: &[PathBuf]) -> bool {
    files
        .iter()
        .all(|p| root.host(p).map(|r| r.is_file()).unwrap_or(false))
}

/// Computes the whole `secure-config` plan. Reads the host under `root`;
/// writes nothing.
pub fn plan(
    root: &Root,
    layout: &Layout,
    config: &Config,
    opts: &Options,
) -> Result<SecureConfigPlan, HardenError> {
    for dir in [layout.secrets_dir(), layout.tls_dir()] {
        refuse_links_below_home(root, layout, &dir)?;
    }

    let mut planner = Planner::new(root);
    for dir in layout.directories() {
        planner.ensure_dir(&dir.path, dir.mode, None)?;
    }

    let config_file = layout.config_file();
    if opts.write_default_config {
        planner.ensure_file(
            &config_file,
            Content::Text(default_config_text()),
            CONFIG_FILE_MODE,
            None,
        )?;
    } else if config.file() == Some(config_file.as_path()) {
        planner.ensure_mode(&config_file, CONFIG_FILE_MODE)?;
    }

    let mut outcomes = Vec::new();
    let mut redis_password: Option<SecretBytes> = None;
    for name in SecretName::ALL {
        let path = layout.secret(name.file_name());
        let existing = read_no_follow(root, &path)?;
        let rotate = opts.rotate.contains(&name);
        let (value, action) = match existing {
            None => (
                name.generate().map_err(HardenError::Random)?,
                SecretAction::Generated,
            ),
            Some(current) => {
                let weakness = name.weakness(current.expose_secret());
                if name.guards_data() {
                    if let Some(weakness) = weakness {
                        return Err(HardenError::VaultKeyUnusable {
                            path,
                            weakness,
                            name,
                        });
                    }
                    if rotate {
                        return Err(HardenError::GuardedRotation { name });
                    }
                }
                match (weakness, rotate) {
                    (Some(w), _) => (
                        name.generate().map_err(HardenError::Random)?,
                        SecretAction::Replaced(w),
                    ),
                    (None, true) => (
                        name.generate().map_err(HardenError::Random)?,
                        SecretAction::Rotated,
                    ),
                    (None, false) => (current, SecretAction::Kept),
                }
            }
        };
        if name == SecretName::RedisPassword {
            redis_password = Some(SecretBox::new(value.expose_secret().into()));
        }
        planner.ensure_file(&path, Content::Secret(value), SECRET_FILE_MODE, None)?;
        outcomes.push(SecretOutcome { name, path, action });
    }

    let redis_hash = redis_password
        .as_ref()
        .map(redis_password_hash)
        .unwrap_or_default();
    planner.ensure_file(
        &layout.redis_conf(),
        Content::Text(render::redis_conf(config, layout, &redis_hash)?),
        PUBLIC_FILE_MODE,
        None,
    )?;
    let (cert, key, ca) = render::redis_tls_files(layout);
    planner.ensure_file(
        &layout.redis_include(),
        Content::Text(render::redis_include(
            config,
            layout,
            files_present(root, &[cert, key, ca]),
        )?),
        PUBLIC_FILE_MODE,
        None,
    )?;
    planner.ensure_file(
        &layout.pg_hba(),
        Content::Text(render::pg_hba(config)),
        PUBLIC_FILE_MODE,
        None,
    )?;
    planner.ensure_file(
        &layout.pg_ident(),
        Content::Text(render::pg_ident()),
        PUBLIC_FILE_MODE,
        None,
    )?;
    let (cert, key) = render::pg_tls_files(layout);
    planner.ensure_file(
        &layout.pg_include(),
        Content::Text(render::pg_include(
            layout,
            files_present(root, &[cert, key]),
        )?),
        PUBLIC_FILE_MODE,
        None,
    )?;

    Ok(SecureConfigPlan {
        plan: planner.finish(),
        secrets: outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses_to_the_defaults() {
        let text = default_config_text();
        let c = Config::from_toml(&text, Path::new("cryptobot.toml"), &[]).unwrap();
        assert_eq!(c.settings(), &Settings::default());
        assert!(text.contains("\n[server]\n"));
        assert!(text.contains("\ncors_origins = [\"https://localhost:3000\"]\n"));
        assert!(text.contains("# min_length = 12"));
    }
}
