//! The live engine's one error type: a sentence, a fix, and whether the
//! operator's input (flags, configuration, files on the host) or the run
//! itself (a tool, the kernel, the disk) failed.

/// Whose fault an error is; the CLI maps it to its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: flags, configuration, the state on the host.
    Input,
    /// Everything else: a tool that failed, the disk, the kernel.
    Runtime,
}

/// Why `apply`, `confirm`, `persist`, the watchdog or `normalize` stopped.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LiveError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl LiveError {
    pub(crate) fn input(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        LiveError {
            kind: ErrorKind::Input,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn runtime(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        LiveError {
            kind: ErrorKind::Runtime,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The same error with another fix.
    pub(crate) fn with_hint(self, hint: impl Into<Option<String>>) -> Self {
        LiveError {
            hint: hint.into(),
            ..self
        }
    }

    /// Input or runtime.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the operator's input is at fault.
    pub fn is_input(&self) -> bool {
        self.kind == ErrorKind::Input
    }

    /// The sentence, without the fix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// One line telling the operator how to fix it.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl From<cryptobot_plan::PlanError> for LiveError {
    fn from(e: cryptobot_plan::PlanError) -> Self {
        let hint = e.hint();
        LiveError::input(e.to_string(), hint)
    }
}

impl From<cryptobot_plan::ApplyError> for LiveError {
    fn from(e: cryptobot_plan::ApplyError) -> Self {
        let hint = e.hint();
        LiveError::runtime(e.to_string(), hint)
    }
}
