//! The rules a certificate must pass before `cryptobot ssl import`
//! installs it (and that `ssl status` and `assess` report).

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::inspect::{CertInfo, inspect, pem_certificates};
use crate::{UnixTime, days_left};

/// Fewer days than this left: refused at import, renewed by `ssl renew`.
pub const RENEW_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the certificate file cannot be read: {0}")]
    BadCertificate(String),
    #[error("the key file holds no private key in PEM form (PKCS#8, PKCS#1 or SEC1)")]
    BadKey,
    #[error("the key is too weak: {key}")]
    WeakKey { key: String },
    #[error("the certificate is not valid before {from} (check the clock, or the file)")]
    NotYetValid { from: String },
    #[error("the certificate expired {days} days ago ({at})")]
    Expired { days: i64, at: String },
    #[error("the certificate expires in {days} days ({at}), fewer than {RENEW_DAYS}")]
    ExpiresSoon { days: i64, at: String },
    #[error("the certificate does not cover {}: it names {}", missing.join(", "), have.join(", "))]
    MissingNames {
        missing: Vec<String>,
        have: Vec<String>,
    },
    #[error("the certificate is not for TLS servers (its extended key usage lacks serverAuth)")]
    NotServerAuth,
    #[error(
        "the certificate is a CA certificate (basicConstraints CA:TRUE), not a server certificate"
    )]
    IsCa,
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    #[error("the private key cannot be used: {0}")]
    UnusableKey(String),
    #[error("the certificate chain does not build: {0}")]
    Chain(String),
}

impl CheckError {
    /// One sentence telling the operator how to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            CheckError::BadCertificate(_) => {
                "give the PEM certificate file (-----BEGIN CERTIFICATE-----)"
            }
            CheckError::BadKey | CheckError::UnusableKey(_) => {
                "give the PEM private key that belongs to the certificate"
            }
            CheckError::WeakKey { .. } => {
                "use RSA of at least 2048 bits, ECDSA P-256 or P-384, or Ed25519"
            }
            CheckError::NotYetValid { .. } => {
                "check the system clock, or use a current certificate"
            }
            CheckError::Expired { .. } | CheckError::ExpiresSoon { .. } => {
                "renew the certificate with its CA first, then import the new one"
            }
            CheckError::MissingNames { .. } => {
                "get a certificate for every name in [tls].san, or change [tls].san"
            }
            CheckError::NotServerAuth => "use a certificate issued for server authentication",
            CheckError::IsCa => {
                "issue a server certificate from that CA (cryptobot ssl does) and import that"
            }
            CheckError::KeyMismatch => "give the key file that was created with this certificate",
            CheckError::Chain(_) => {
                "give the intermediate (and root) certificates with --chain, in PEM, leaf's issuer first"
            }
        }
    }
}

fn date(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Checks a certificate, its key and chain for serving `names` at `now`.
/// `system_roots` is a PEM bundle of trusted roots (e.g.
/// `/etc/ssl/certs/ca-certificates.crt`); self-signed certificates in the
/// chain (and a self-signed leaf) are trusted as given.
pub fn check_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    chain_pem: Option<&[u8]>,
    system_roots: Option<&[u8]>,
    names: &[String],
    now: UnixTime,
) -> Result<CertInfo, CheckError> {
    let certs = pem_certificates(cert_pem).map_err(|e| CheckError::BadCertificate(e.0))?;
    let leaf_der = certs
        .first()
        .ok_or_else(|| CheckError::BadCertificate("no certificate".into()))?;
    let info = inspect(leaf_der).map_err(|e| CheckError::BadCertificate(e.0))?;

    if !info.key.is_strong() {
        return Err(CheckError::WeakKey {
            key: info.key.to_string(),
        });
    }
    if now < info.not_before {
        return Err(CheckError::NotYetValid {
            from: date(info.not_before),
        });
    }
    let left = days_left(info.not_after, now);
    if now >= info.not_after {
        return Err(CheckError::Expired {
            days: -left,
            at: date(info.not_after),
        });
    }
    if left < RENEW_DAYS {
        return Err(CheckError::ExpiresSoon {
            days: left,
            at: date(info.not_after),
        });
    }
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !info.sans.iter().any(|s| s.covers(n)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(CheckError::MissingNames {
            missing,
            have: info.sans.iter().map(ToString::to_string).collect(),
        });
    }
    if !info.server_auth {
        return Err(CheckError::NotServerAuth);
    }
    if info.is_ca {
        return Err(CheckError::IsCa);
    }

    // The key.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| CheckError::BadKey)?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CheckError::UnusableKey(e.to_string()))?;
    match signing.public_key() {
        Some(spki) if spki.as_ref() == info.spki_der.as_slice() => {}
        Some(_) => return Err(CheckError::KeyMismatch),
        None => {
            return Err(CheckError::UnusableKey(
                "its public key cannot be derived".into(),
            ));
        }
    }

    // The chain.
    let mut extra: Vec<Vec<u8>> = certs[1..].to_vec();
    if let Some(chain) = chain_pem {
        extra.extend(pem_certificates(chain).map_err(|e| CheckError::Chain(e.0))?);
    }
    let mut roots = RootCertStore::empty();
    let mut intermediates = Vec::new();
    for der in &extra {
        let self_signed = inspect(der).map(|i| i.self_signed).unwrap_or(false);
        if self_signed {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| CheckError::Chain(e.to_string()))?;
        } else {
            intermediates.push(CertificateDer::from(der.clone()));
        }
    }
    if info.self_signed {
        roots
            .add(CertificateDer::from(leaf_der.clone()))
            .map_err(|e| CheckError::Chain(e.to_string()))?;
    }
    if let Some(bundle) = system_roots {
        for der in CertificateDer::pem_slice_iter(bundle).flatten() {
            let _ = roots.add(der);
        }
    }
    if roots.is_empty() {
        return Err(CheckError::Chain(
            "no trusted root: the issuer is not in the chain nor in the system's CA bundle".into(),
        ));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
        .build()
        .map_err(|e| CheckError::Chain(e.to_string()))?;
    let name = names.first().map_or("localhost", String::as_str);
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|e| CheckError::Chain(e.to_string()))?;
    let when = rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(now).unwrap_or(0),
    ));
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf_der.clone()),
            &intermediates,
            &server_name,
            &[],
            when,
        )
        .map_err(|e| CheckError::Chain(e.to_string()))?;
    Ok(info)
}
