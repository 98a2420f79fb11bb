/// Failures of the authentication primitives. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The operating system's random source failed.
    #[error("the random number source failed")]
    Random,
    /// argon2 refused the parameters or input.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A key could not be parsed.
    #[error("invalid key: {0}")]
    Key(&'static str),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}
