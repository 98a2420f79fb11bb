//! TLS for `cryptobot serve`: the rustls configuration (TLS 1.2 and 1.3
//! only, aws-lc-rs) and the files behind it. The self-signed localhost
//! certificate of a first start is [`cryptobot_tls::self_signed_localhost`].

use std::sync::Arc;

use rustls::ServerConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file holds no usable certificate.
    #[error("{path}: no PEM certificate could be read from it")]
    BadCertificate {
        /// The file.
        path: String,
    },
    /// The key file holds no usable private key.
    #[error("{path}: no PEM private key could be read from it")]
    BadKey {
        /// The file.
        path: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the certificate and key cannot be used together: {0}")]
    Rejected(String),
}

/// Installs aws-lc-rs as the process-wide rustls provider. Call once at the
/// top of `main` (and of tests); a second call is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Builds the server configuration from PEM text under `policy` (see
/// [`cryptobot_tls::policy`]): Mozilla intermediate (TLS 1.2 and 1.3) or
/// modern (TLS 1.3 only), ECDHE with AEAD suites, HTTP/1.1 by ALPN.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &str,
    key_path: &str,
    policy: cryptobot_tls::Policy,
) -> Result<Arc<ServerConfig>, TlsError> {
    use cryptobot_tls::PolicyError;
    cryptobot_tls::server_config(cert_pem, key_pem, cert_path, key_path, policy).map_err(
        |e| match e {
            PolicyError::BadCertificate { path } => TlsError::BadCertificate { path },
            PolicyError::BadKey { path } => TlsError::BadKey { path },
            PolicyError::Rejected(m) => TlsError::Rejected(m),
        },
    )
}

/// Days before expiry from which a served certificate raises an alert.
pub const ALERT_DAYS: i64 = 14;

/// Identity of the certificate and key files: a change of either (inode,
/// size, modification time) means new files were put in place.
pub fn files_stamp(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Vec<Option<(u64, u64, i64, i64)>> {
    use std::os::unix::fs::MetadataExt;
    [cert, key]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_loads() {
        install_crypto_provider();
        let s = cryptobot_tls::self_signed_localhost(1_800_000_000).unwrap();
        assert!(s.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        server_config(
            s.cert_pem.as_bytes(),
            s.key_pem.as_bytes(),
            "c",
            "k",
            Default::default(),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("PRIVATE"));
    }

    #[test]
    fn garbage_is_named() {
        install_crypto_provider();
        let e =
            server_config(b"nope", b"nope", "cert.pem", "key.pem", Default::default()).unwrap_err();
        assert!(e.to_string().contains("cert.pem"));
    }
}
