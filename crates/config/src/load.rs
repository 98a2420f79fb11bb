//! Loading: defaults, then the TOML file, then `CRYPTOBOT_*` environment
//! overrides; then validation. Every value remembers where it came from, so an
//! error (or `config show`) can name the file and line or the variable.
//!
//! Error messages never repeat a configured string value: a secret typed into
//! the wrong key must not end up on a terminal or in a log.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use crate::model::Settings;
use crate::validate;

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "CRYPTOBOT_";

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { path: PathBuf, line: usize },
    Env { var: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `server.cors_origins`; empty for a syntax error.
    pub key: String,
    pub source: Source,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Default => {}
            other => write!(f, "{other}: ")?,
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_problems(.problems))]
    Invalid { problems: Vec<Problem> },
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems } => problems,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = String::from("invalid configuration");
    if problems.len() > 1 {
        out.push_str(&format!(" ({} problems)", problems.len()));
    }
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string().replace('\n', "\n  "));
    }
    out
}

/// Validated configuration. The only ways to get one are [`Config::load`],
/// [`Config::from_toml`] and [`Config::defaults`], all of which validate.
#[derive(Debug, Clone)]
pub struct Config {
    settings: Settings,
    sources: BTreeMap<String, Source>,
    file: Option<PathBuf>,
}

impl Deref for Config {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

impl Config {
    /// The built-in defaults plus environment overrides.
    pub fn defaults(env: &[(String, String)]) -> Result<Config, ConfigError> {
        build(None, env)
    }

    /// Reads and validates `path` (a real path on this machine). `shown_as`
    /// is the name used in messages (the host path under `--root`).
    pub fn load(
        path: &Path,
        shown_as: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown_as.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, shown_as, env)
    }

    /// Validates TOML text that came from `origin`.
    pub fn from_toml(
        text: &str,
        origin: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        build(Some((text, origin)), env)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The file the configuration was read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Every effective setting as `(dotted key, TOML value, source)`, sorted.
    pub fn entries(&self) -> Vec<(String, Value, Source)> {
        let mut out = Vec::new();
        let table = match Value::try_from(&self.settings) {
            Ok(Value::Table(t)) => t,
            _ => return out,
        };
        let mut leaves = Vec::new();
        collect_leaves(&table, "", &mut leaves);
        for (key, value) in leaves {
            let source = self.sources.get(&key).cloned().unwrap_or(Source::Default);
            out.push((key, value, source));
        }
        out
    }

    /// Where `key` got its value.
    pub fn source_of(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }
}

/// The `CRYPTOBOT_<SECTION>__<KEY>` variables from `vars`, as
/// `(variable, dotted key, value)`. Variables without `__` (such as
/// `CRYPTOBOT_HOME`) are options of the program, not configuration keys.
pub fn env_overrides(vars: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = vars
        .iter()
        .filter_map(|(var, value)| {
            let rest = var.strip_prefix(ENV_PREFIX)?;
            if !rest.contains("__") {
                return None;
            }
            let key = rest
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            Some((var.clone(), key, value.clone()))
        })
        .collect();
    out.sort();
    out
}

fn build(file: Option<(&str, &Path)>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let mut merged = defaults_table()?;
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    let mut key_lines: BTreeMap<String, usize> = BTreeMap::new();
    let origin = file.map(|(_, p)| p.to_path_buf());

    if let Some((text, path)) = file {
        // Both parses read the same text; a syntax error is reported once,
        // the same way, by whichever sees it first.
        let syntax = |e: toml::de::Error| {
            invalid(Problem {
                key: String::new(),
                source: Source::File {
                    path: path.to_path_buf(),
                    line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
                },
                message: format!("not valid TOML: {}", e.message().trim_end()),
                fix: "correct the syntax at that line (https://toml.io explains the format)".into(),
            })
        };
        let parsed = DeTable::parse(text).map_err(syntax)?;
        record_key_lines(text, parsed.get_ref(), "", &mut key_lines);
        let table: Table = toml::from_str(text).map_err(syntax)?;
        let mut leaves = Vec::new();
        collect_leaves(&table, "", &mut leaves);
        for (key, _) in &leaves {
            let line = nearest_line(&key_lines, key);
            sources.insert(
                key.clone(),
                Source::File {
                    path: path.to_path_buf(),
                    line,
                },
            );
        }
        merge(&mut merged, table);
    }

    for (var, key, value) in env_overrides(env) {
        let source = Source::Env { var: var.clone() };
        let typed = typed_env_value(&merged, &key, &value).map_err(|message| {
            invalid(Problem {
                key: key.clone(),
                source: source.clone(),
                message,
                fix: format!("set {var} to a value of the right type, or unset it"),
            })
        })?;
        set_path(&mut merged, &key, typed).map_err(|message| {
            invalid(Problem {
                key: key.clone(),
                source: source.clone(),
                message,
                fix: format!("unset {var}"),
            })
        })?;
        // Everything below an overridden key now comes from the variable.
        sources.retain(|k, _| !(k == &key || k.starts_with(&format!("{key}."))));
        sources.insert(key, source);
    }

    let locate = |key: &str| -> Source {
        // `server.cors_origins[0]` is written on the line of `cors_origins`.
        let key = key.split('[').next().unwrap_or(key);
        if let Some(s) = sources.get(key) {
            return s.clone();
        }
        // A key not in the map (e.g. an unknown one) inherits its nearest
        // ancestor's source, or the file line where it was written.
        if let (Some(path), Some(line)) = (&origin, key_lines.get(key)) {
            return Source::File {
                path: path.clone(),
                line: *line,
            };
        }
        let mut k = key;
        while let Some((parent, _)) = k.rsplit_once('.') {
            if let Some(s) = sources.get(parent) {
                return s.clone();
            }
            k = parent;
        }
        sources
            .iter()
            .find(|(k, _)| k.starts_with(&format!("{key}.")))
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    };

    let settings: Settings =
        serde_path_to_error::deserialize(Value::Table(merged)).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let problem = structural_problem(&path, &err.inner().to_string());
            invalid(Problem {
                source: locate(&problem.0),
                key: problem.0,
                message: problem.1,
                fix: problem.2,
            })
        })?;

    let problems: Vec<Problem> = validate::validate(&settings)
        .into_iter()
        .map(|(key, message, fix)| Problem {
            source: locate(&key),
            key,
            message,
            fix,
        })
        .collect();
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { problems });
    }
    Ok(Config {
        settings,
        sources,
        file: origin,
    })
}

/// The defaults as a TOML table (the base every file is merged onto).
fn defaults_table() -> Result<Table, ConfigError> {
    match Value::try_from(Settings::default()) {
        Ok(Value::Table(t)) => Ok(t),
        _ => Err(invalid(Problem {
            key: String::new(),
            source: Source::Default,
            message: "internal error: the built-in defaults do not form a table".into(),
            fix: "report this bug".into(),
        })),
    }
}

fn invalid(problem: Problem) -> ConfigError {
    ConfigError::Invalid {
        problems: vec![problem],
    }
}

/// Turns a serde error into `(key, message, fix)` without repeating values.
fn structural_problem(path: &str, msg: &str) -> (String, String, String) {
    // serde_path_to_error's path usually already ends with an unknown or
    // missing field's name; add it only when it does not.
    let join = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = tail
            .trim_start_matches(", ")
            .trim_start_matches("expected ")
            .replace("one of ", "");
        let key = join(field);
        if looks_like_secret_name(field) {
            return (
                key,
                "this looks like a secret written into the configuration file; secrets never belong in cryptobot.toml".into(),
                "remove the line; Cryptobot reads secrets from files in config/secrets/ (mode 0600), which `cryptobot secure-config` generates, or from environment variables".into(),
            );
        }
        let fix = if expected.is_empty() || expected.starts_with("there are no fields") {
            "remove it".to_string()
        } else {
            format!("remove it or use one of: {}", expected.replace('`', ""))
        };
        return (key, "unknown key".into(), fix);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return (
            join(field),
            "required key is missing".into(),
            "add it (see `cryptobot config show` for the defaults)".into(),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let found_kind = found.split([' ', '`', '"']).next().unwrap_or("value");
        return (
            path.to_string(),
            format!(
                "wrong type: expected {}, found {}",
                describe_expected(expected),
                article(found_kind)
            ),
            "write a value of the expected type".into(),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map(|x| x.1).unwrap_or("?");
        return (
            path.to_string(),
            format!("invalid value: expected {}", describe_expected(expected)),
            "write a value in the expected range".into(),
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let expected = rest.split_once("expected ").map(|x| x.1).unwrap_or("?");
        return (
            path.to_string(),
            format!(
                "not an allowed value; expected {}",
                expected.replace('`', "\"")
            ),
            "use one of the allowed values".into(),
        );
    }
    if msg.contains("socket address") {
        return (
            path.to_string(),
            "not an address with a port".into(),
            "write it as \"IP:PORT\", e.g. \"127.0.0.1:8000\" or \"[::1]:8000\"".into(),
        );
    }
    // Unknown shape: keep only the text before any quoted value.
    let safe = msg
        .split(['"', '`'])
        .next()
        .unwrap_or("invalid value")
        .trim();
    (
        path.to_string(),
        safe.to_string(),
        "see docs/configuration.md".into(),
    )
}

fn describe_expected(expected: &str) -> String {
    match expected.trim() {
        "u16" => "an integer from 0 to 65535".into(),
        "u32" => "a non-negative integer".into(),
        "a boolean" | "bool" => "true or false".into(),
        other => other.replace('`', "\""),
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" => "an integer".into(),
        "string" => "a string".into(),
        "boolean" => "a boolean".into(),
        "map" => "a table".into(),
        "sequence" => "an array".into(),
        "floating" => "a floating-point number".into(),
        other => format!("a {other}"),
    }
}

pub(crate) fn looks_like_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "private",
        "apikey",
        "api_key",
        "credential",
        "passphrase",
        "signing_key",
        "master_key",
    ]
    .iter()
    .any(|w| n.contains(w))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

fn record_key_lines(
    text: &str,
    table: &DeTable<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table {
        let path = join_key(prefix, key.get_ref());
        out.entry(path.clone())
            .or_insert_with(|| line_of(text, key.span().start));
        if let DeValue::Table(inner) = value.get_ref() {
            record_key_lines(text, inner, &path, out);
        }
    }
}

fn nearest_line(lines: &BTreeMap<String, usize>, key: &str) -> usize {
    let mut k = key;
    loop {
        if let Some(l) = lines.get(k) {
            return *l;
        }
        match k.rsplit_once('.') {
            Some((parent, _)) => k = parent,
            None => return 1,
        }
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn collect_leaves(table: &Table, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (key, value) in table {
        let path = join_key(prefix, key);
        match value {
            Value::Table(inner) => collect_leaves(inner, &path, out),
            other => out.push((path, other.clone())),
        }
    }
}

fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn get_path<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let first = parts.next()?;
    let mut cur = table.get(first)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

fn set_path(table: &mut Table, key: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return Err("empty key".into());
    };
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = match entry {
            Value::Table(t) => t,
            _ => return Err(format!("`{p}` is a value, not a section")),
        };
    }
    cur.insert((*last).to_string(), value);
    Ok(())
}

/// Reads an environment value as the type the key already has.
fn typed_env_value(merged: &Table, key: &str, raw: &str) -> Result<Value, String> {
    match get_path(merged, key) {
        Some(Value::Boolean(_)) => match raw.trim() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err("wrong type: expected true or false".into()),
        },
        Some(Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| "wrong type: expected an integer".into()),
        Some(Value::Array(_)) => {
            let trimmed = raw.trim();
            if trimmed.starts_with('[') {
                let doc: Table = toml::from_str(&format!("v = {trimmed}"))
                    .map_err(|_| "not a valid TOML array".to_string())?;
                doc.get("v")
                    .cloned()
                    .ok_or_else(|| "not a valid TOML array".to_string())
            } else if trimmed.is_empty() {
                Ok(Value::Array(Vec::new()))
            } else {
                Ok(Value::Array(
                    trimmed
                        .split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .collect(),
                ))
            }
        }
        Some(Value::Table(_)) => Err("this is a section; set one of its keys instead".into()),
        _ => Ok(Value::String(raw.to_string())),
    }
}
