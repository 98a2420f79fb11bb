//! Resolves the global options into the installation the command acts on,
//! and the one error type every command returns to `main`.

use std::path::{Component, Path, PathBuf};

use cryptobot_config::{Config, ConfigError, Layout};
use cryptobot_plan::Root;

use crate::cli::{Cli, Format};

/// A failure as the operator sees it: one sentence, a fix, an exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

/// Exit status for bad input: flags, configuration, files on the host.
pub const EXIT_INPUT: u8 = 2;
/// Exit status for everything else that failed.
pub const EXIT_FAILURE: u8 = 1;

impl Failure {
    pub fn input(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Failure {
            message: message.into(),
            hint: hint.into(),
            code: EXIT_INPUT,
        }
    }
    pub fn runtime(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Failure {
            message: message.into(),
            hint: hint.into(),
            code: EXIT_FAILURE,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        match &e {
            ConfigError::Read { .. } => Failure::input(
                e.to_string(),
                Some("check that the file exists and is readable by this user".to_string()),
            ),
            ConfigError::Invalid { .. } => Failure::input(e.to_string(), None),
        }
    }
}

impl From<cryptobot_plan::PlanError> for Failure {
    fn from(e: cryptobot_plan::PlanError) -> Self {
        let hint = e.hint();
        Failure::input(e.to_string(), hint)
    }
}

impl From<cryptobot_plan::ApplyError> for Failure {
    fn from(e: cryptobot_plan::ApplyError) -> Self {
        let hint = e.hint();
        Failure::runtime(e.to_string(), hint)
    }
}

impl From<cryptobot_harden::secure_config::HardenError> for Failure {
    fn from(e: cryptobot_harden::secure_config::HardenError) -> Self {
        let hint = e.hint();
        Failure::input(e.to_string(), hint)
    }
}

impl From<cryptobot_harden::apply_db::DbError> for Failure {
    fn from(e: cryptobot_harden::apply_db::DbError) -> Self {
        let hint = e.hint().map(str::to_string);
        Failure::runtime(e.to_string(), hint)
    }
}

impl From<cryptobot_firewall::live::LiveError> for Failure {
    fn from(e: cryptobot_firewall::live::LiveError) -> Self {
        let hint = e.hint().map(str::to_string);
        if e.is_input() {
            Failure::input(e.to_string(), hint)
        } else {
            Failure::runtime(e.to_string(), hint)
        }
    }
}

/// Output settings shared by every command.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub verbose: u8,
    pub quiet: bool,
}

impl Output {
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

/// The installation a command acts on.
pub struct Context {
    pub root: Root,
    pub layout: Layout,
    /// Host path of the configuration file.
    pub config_path: PathBuf,
    /// Whether `--config` was given (then the file must exist).
    pub config_explicit: bool,
    pub env: Vec<(String, String)>,
    pub out: Output,
}

fn has_parent_refs(p: &Path) -> bool {
    p.components().any(|c| c == Component::ParentDir)
}

/// Makes `p` absolute against the current directory, lexically.
fn absolute(p: &Path, what: &str) -> Result<PathBuf, Failure> {
    if has_parent_refs(p) {
        return Err(Failure::input(
            format!("{what} {} contains `..`", p.display()),
            Some("give the path without `..` components".to_string()),
        ));
    }
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::runtime(format!("cannot read the current directory: {e}"), None))?;
    Ok(cwd.join(
        p.components()
            .filter(|c| *c != Component::CurDir)
            .collect::<PathBuf>(),
    ))
}

fn default_home(root_is_live: bool) -> PathBuf {
    let system = PathBuf::from("/opt/cryptobot");
    if !root_is_live || rustix::process::geteuid().is_root() {
        return system;
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(data).join("cryptobot");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/cryptobot"),
        None => system,
    }
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Context, Failure> {
        let root = Root::new(&cli.root)?;
        let live = root.is_live();
        let home = match &cli.home {
            Some(h) if !live && !h.is_absolute() => {
                return Err(Failure::input(
                    format!("--home {} is relative, but --root is given", h.display()),
                    Some("give --home as the absolute path the installation has on the target system, e.g. --home /opt/cryptobot".to_string()),
                ));
            }
            Some(h) => absolute(h, "--home")?,
            None => default_home(live),
        };
        if home == Path::new("/") {
            return Err(Failure::input(
                "--home cannot be the filesystem root",
                Some("use a dedicated directory such as /opt/cryptobot".to_string()),
            ));
        }
        let layout = Layout::new(home);
        let (config_path, config_explicit) = match &cli.config {
            Some(c) if !live && !c.is_absolute() => {
                return Err(Failure::input(
                    format!("--config {} is relative, but --root is given", c.display()),
                    Some("give --config as an absolute path on the target system".to_string()),
                ));
            }
            Some(c) => (absolute(c, "--config")?, true),
            None => (layout.config_file(), false),
        };
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Ok(Context {
            root,
            layout,
            config_path,
            config_explicit,
            env,
            out: Output {
                format: cli.format,
                verbose: cli.verbose,
                quiet: cli.quiet,
            },
        })
    }

    /// Applies `plan` to this installation, journaled under
    /// `<home>/data/changes/` as `command`.
    pub fn apply(
        &self,
        plan: &cryptobot_plan::Plan,
        command: &str,
    ) -> Result<cryptobot_plan::ApplyReport, Failure> {
        Ok(cryptobot_plan::apply(
            plan,
            &self.root,
            &cryptobot_plan::ApplyOptions {
                journal_dir: self.layout.changes_dir(),
                command: command.into(),
            },
        )?)
    }

    /// Loads and validates the configuration. `Ok((config, false))` when the
    /// default file does not exist yet (the defaults apply).
    pub fn load_config(&self) -> Result<(Config, bool), Failure> {
        let real = self.root.host(&self.config_path)?;
        match std::fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_symlink() => Err(Failure::input(
                format!(
                    "refusing to read {}: it is a symbolic link",
                    self.config_path.display()
                ),
                Some("replace the link with the file itself".to_string()),
            )),
            Ok(_) => {
                let config = Config::load(&real, &self.config_path, &self.env)?;
                for (key, what) in config.settings().deprecations() {
                    eprintln!("warning: {key}: {what}");
                }
                Ok((config, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.config_explicit {
                    Err(Failure::input(
                        format!("configuration file {} does not exist", self.config_path.display()),
                        Some("check the --config path, or leave it out to use <home>/config/cryptobot.toml".to_string()),
                    ))
                } else {
                    Ok((Config::defaults(&self.env)?, false))
                }
            }
            Err(e) => Err(Failure::input(
                format!("cannot read {}: {e}", self.config_path.display()),
                Some("check the file's owner and mode".to_string()),
            )),
        }
    }
}
