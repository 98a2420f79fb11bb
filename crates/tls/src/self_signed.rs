//! The self-signed `localhost` certificate `cryptobot serve` (and the
//! `cryptobot permissions` unit set-up) makes at first start when the
//! operator has not provided one.

use zeroize::Zeroizing;

/// Why the self-signed certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("could not create a self-signed certificate: {0}")]
pub struct SelfSignedError(String);

/// A freshly made self-signed certificate and its key, both PEM.
pub struct SelfSigned {
    /// The certificate (public).
    pub cert_pem: String,
    /// The private key (secret).
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfSigned { key: [redacted] }")
    }
}

/// Days a self-signed certificate is valid (the CA/B ceiling for public certs).
pub const SELF_SIGNED_DAYS: i64 = 397;

/// Makes an ECDSA P-256 certificate for `localhost`, `127.0.0.1` and `::1`,
/// valid from an hour ago for [`SELF_SIGNED_DAYS`].
pub fn self_signed_localhost(now_unix: i64) -> Result<SelfSigned, SelfSignedError> {
    let g = |e: rcgen::Error| SelfSignedError(e.to_string());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(g)?;
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(g)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.distinguished_name.push(
        rcgen::DnType::OrganizationName,
        "Cryptobot self-signed (replace with `cryptobot ssl`)",
    );
    let at = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t).map_err(|e| SelfSignedError(e.to_string()))
    };
    params.not_before = at(now_unix - 3600)?;
    params.not_after = at(now_unix + SELF_SIGNED_DAYS * 86_400)?;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(g)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}
