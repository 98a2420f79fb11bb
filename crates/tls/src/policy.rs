//! The rustls server configuration for `cryptobot serve`.
//!
//! Both profiles follow Mozilla's server-side TLS guidelines: forward-secret
//! ECDHE key exchange only (X25519, P-256, P-384; no finite-field DH, so no
//! DH parameter file), AEAD ciphers only (AES-GCM, ChaCha20-Poly1305),
//! server cipher preference. rustls implements no CBC, RC4, 3DES, export or
//! static-RSA suite, no compression and no renegotiation.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self as provider, cipher_suite, kx_group};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which TLS profile to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// TLS 1.2 and 1.3 (Mozilla "intermediate"): the default.
    #[default]
    Intermediate,
    /// TLS 1.3 only (Mozilla "modern").
    Modern,
}

impl Policy {
    /// Parses the configuration value.
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "intermediate" => Some(Policy::Intermediate),
            "modern" => Some(Policy::Modern),
            _ => None,
        }
    }
}

/// Why a server configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: no PEM certificate could be read from it")]
    BadCertificate { path: String },
    #[error("{path}: no PEM private key could be read from it")]
    BadKey { path: String },
    #[error("the certificate and key cannot be used together: {0}")]
    Rejected(String),
}

/// The crypto provider restricted to the policy's suites and groups.
pub fn provider_for(policy: Policy) -> CryptoProvider {
    let mut suites = vec![
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    if policy == Policy::Intermediate {
        suites.extend([
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]);
    }
    CryptoProvider {
        cipher_suites: suites,
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..provider::default_provider()
    }
}

/// Builds the server configuration from PEM text under `policy`; HTTP/1.1
/// is announced by ALPN.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &str,
    key_path: &str,
    policy: Policy,
) -> Result<Arc<ServerConfig>, PolicyError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| PolicyError::BadCertificate {
            path: cert_path.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PolicyError::BadCertificate {
            path: cert_path.to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| PolicyError::BadKey {
        path: key_path.to_string(),
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match policy {
        Policy::Intermediate => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Policy::Modern => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider_for(policy)))
        .with_protocol_versions(versions)
        .map_err(|e| PolicyError::Rejected(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| PolicyError::Rejected(e.to_string()))?;
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
