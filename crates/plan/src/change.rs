//! Typed changes and the plan that holds them.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretBox};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// Content of a file to write.
pub enum Content {
    /// Text shown in the dry-run diff and stored in the journal when replaced.
    Text(String),
    /// Non-UTF-8 content: shown only as its length. Used to restore binary
    /// files on rollback.
    Bytes(Vec<u8>),
    /// A secret: never rendered, never serialized, never stored in the
    /// journal; `Debug` prints `[redacted]`. Zeroized on drop.
    Secret(SecretBox<[u8]>),
}

impl Content {
    /// A secret from bytes (the vector is moved, not copied).
    pub fn secret(bytes: Vec<u8>) -> Content {
        Content::Secret(SecretBox::new(bytes.into_boxed_slice()))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// True if the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for [`Content::Secret`].
    pub fn is_secret(&self) -> bool {
        matches!(self, Content::Secret(_))
    }

    /// The bytes to write. Crate-internal so that secret bytes only leave
    /// through the executor.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Content::Text(t) => t.as_bytes(),
            Content::Bytes(b) => b,
            Content::Secret(s) => s.expose_secret(),
        }
    }
}

impl From<String> for Content {
    fn from(s: String) -> Self {
        Content::Text(s)
    }
}

impl From<&str> for Content {
    fn from(s: &str) -> Self {
        Content::Text(s.to_owned())
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Text(t) => f.debug_tuple("Text").field(t).finish(),
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::Secret(s) => {
                write!(f, "Secret([redacted], {} bytes)", s.expose_secret().len())
            }
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(t) => {
                let mut s = serializer.serialize_struct("Content", 3)?;
                s.serialize_field("kind", "text")?;
                s.serialize_field("len", &t.len())?;
                s.serialize_field("text", t)?;
                s.end()
            }
            Content::Bytes(b) => {
                let mut s = serializer.serialize_struct("Content", 2)?;
                s.serialize_field("kind", "bytes")?;
                s.serialize_field("len", &b.len())?;
                s.end()
            }
            Content::Secret(secret) => {
                let mut s = serializer.serialize_struct("Content", 2)?;
                s.serialize_field("kind", "secret")?;
                s.serialize_field("len", &secret.expose_secret().len())?;
                s.end()
            }
        }
    }
}

/// Owner of a path. `uid`/`gid` are what is applied; the names are for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
}

impl Owner {
    /// An owner from ids and display names.
    pub fn new(uid: u32, gid: u32, user: impl Into<String>, group: impl Into<String>) -> Owner {
        Owner {
            uid,
            gid,
            user: user.into(),
            group: group.into(),
        }
    }

    /// `root:root` (0:0).
    pub fn root() -> Owner {
        Owner::new(0, 0, "root", "root")
    }

    pub(crate) fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} ({}:{})",
            self.user, self.group, self.uid, self.gid
        )
    }
}

/// What a file looked like when the plan was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Before {
    /// Previous content; `None` if it was a secret or not UTF-8.
    pub text: Option<String>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One typed change. All paths are host paths (absolute, as seen on the
/// target system); the executor maps them under the [`Root`](crate::Root).
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Create a directory (its parent must exist or be created earlier in the plan).
    CreateDir {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
        mode: u32,
        owner: Option<Owner>,
    },
    /// Write a whole file atomically. `before: None` means the file is new.
    WriteFile {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
        content: Content,
        mode: u32,
        owner: Option<Owner>,
        before: Option<Before>,
    },
    /// `chmod` (refused on a symlink).
    SetMode {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
        from: u32,
        to: u32,
    },
    /// `lchown` semantics: never follows a symlink.
    SetOwner {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
        from: (u32, u32),
        to: Owner,
    },
    /// Create a group unless it exists. `gid` is the id chosen at plan time
    /// (`None`: the executor picks a free one).
    EnsureGroup {
        name: String,
        system: bool,
        gid: Option<u32>,
    },
    /// Create a user (locked password, no home created) unless it exists.
    EnsureUser {
        name: String,
        group: String,
        #[serde(serialize_with = "ser_path")]
        home: PathBuf,
        #[serde(serialize_with = "ser_path")]
        shell: PathBuf,
        system: bool,
        uid: Option<u32>,
    },
    /// Run a program with an argv (never a shell string). `undo` is run on rollback.
    Run {
        #[serde(serialize_with = "ser_path")]
        program: PathBuf,
        args: Vec<String>,
        why: String,
        #[serde(serialize_with = "ser_undo")]
        undo: Option<(PathBuf, Vec<String>)>,
    },
    /// Remove a regular file or symlink (never follows it). `secret`: the
    /// content is never copied into the journal.
    RemoveFile {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
        secret: bool,
    },
    /// Remove a directory if it is empty (skipped with a note otherwise).
    RemoveDir {
        #[serde(serialize_with = "ser_path")]
        path: PathBuf,
    },
    /// Remove a group (rollback of `EnsureGroup`).
    RemoveGroup { name: String },
    /// Remove a user (rollback of `EnsureUser`).
    RemoveUser { name: String },
}

impl Change {
    /// The host path this change acts on, if it acts on a path.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Change::CreateDir { path, .. }
            | Change::WriteFile { path, .. }
            | Change::SetMode { path, .. }
            | Change::SetOwner { path, .. }
            | Change::RemoveFile { path, .. }
            | Change::RemoveDir { path } => Some(path),
            Change::EnsureGroup { .. }
            | Change::EnsureUser { .. }
            | Change::Run { .. }
            | Change::RemoveGroup { .. }
            | Change::RemoveUser { .. } => None,
        }
    }
}

fn ser_path<S: Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn ser_undo<S: Serializer>(u: &Option<(PathBuf, Vec<String>)>, s: S) -> Result<S::Ok, S::Error> {
    match u {
        None => s.serialize_none(),
        Some((program, args)) => {
            let mut st = s.serialize_struct("Undo", 2)?;
            st.serialize_field("program", &program.to_string_lossy())?;
            st.serialize_field("args", args)?;
            st.end()
        }
    }
}

/// An ordered list of changes plus notes for the report.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    changes: Vec<Change>,
    notes: Vec<String>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    /// True if the plan has no changes (notes do not count).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The changes, in the order they are applied.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Notes for the report (things that were not changed and why, etc.).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Appends a change.
    pub fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Appends a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Appends all changes and notes of another plan.
    pub fn append(&mut self, other: Plan) {
        self.changes.extend(other.changes);
        self.notes.extend(other.notes);
    }

    /// The plan as JSON for `--format json`. Secret content is omitted; only its length is given.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(
            |e| serde_json::json!({ "error": format!("cannot serialize the plan: {e}") }),
        )
    }
}

impl Extend<Change> for Plan {
    fn extend<I: IntoIterator<Item = Change>>(&mut self, iter: I) {
        self.changes.extend(iter);
    }
}

impl FromIterator<Change> for Plan {
    fn from_iter<I: IntoIterator<Item = Change>>(iter: I) -> Self {
        Plan {
            changes: iter.into_iter().collect(),
            notes: Vec::new(),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_text())
    }
}
