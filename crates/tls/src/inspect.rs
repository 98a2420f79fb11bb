//! What a certificate says.

use std::fmt;
use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;

use crate::UnixTime;

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// Whether this name covers `name` (a host name or an address); a
    /// wildcard covers exactly one leftmost label.
    pub fn covers(&self, name: &str) -> bool {
        match (self, name.parse::<IpAddr>()) {
            (San::Ip(ip), Ok(want)) => *ip == want,
            (San::Dns(dns), Err(_)) => {
                let dns = dns.to_ascii_lowercase();
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                match dns.strip_prefix("*.") {
                    Some(rest) => name
                        .split_once('.')
                        .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
                    None => dns == name,
                }
            }
            _ => false,
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// The public key of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInfo {
    Rsa { bits: usize },
    Ec { curve: Curve },
    Ed25519,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    Unknown,
}

impl fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyInfo::Rsa { bits } => write!(f, "RSA {bits} bits"),
            KeyInfo::Ec { curve: Curve::P256 } => f.write_str("ECDSA P-256"),
            KeyInfo::Ec { curve: Curve::P384 } => f.write_str("ECDSA P-384"),
            KeyInfo::Ec { curve: Curve::P521 } => f.write_str("ECDSA P-521"),
            KeyInfo::Ec { .. } => f.write_str("ECDSA (unknown curve)"),
            KeyInfo::Ed25519 => f.write_str("Ed25519"),
            KeyInfo::Other => f.write_str("unknown key type"),
        }
    }
}

impl KeyInfo {
    /// RSA of at least 2048 bits, EC P-256/P-384, or Ed25519.
    pub fn is_strong(self) -> bool {
        match self {
            KeyInfo::Rsa { bits } => bits >= 2048,
            KeyInfo::Ec { curve } => matches!(curve, Curve::P256 | Curve::P384),
            KeyInfo::Ed25519 => true,
            KeyInfo::Other => false,
        }
    }
}

/// What a certificate says, for `ssl status` and the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<San>,
    pub key: KeyInfo,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub is_ca: bool,
    pub self_signed: bool,
    /// Key usage `digitalSignature`.
    pub digital_signature: bool,
    /// Extended key usage `serverAuth` (or no EKU at all).
    pub server_auth: bool,
    /// SubjectPublicKeyInfo, DER: compared with the private key's.
    pub spki_der: Vec<u8>,
    /// SHA-256 fingerprint, colon-separated hex.
    pub fingerprint: String,
    /// Serial number, big-endian bytes.
    pub serial: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Every certificate in PEM text, as DER.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut out = Vec::new();
    for item in Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| ParseError(format!("not valid PEM: {e}")))?;
        if item.label == "CERTIFICATE" {
            out.push(item.contents);
        }
    }
    if out.is_empty() {
        return Err(ParseError("no PEM CERTIFICATE block in it".into()));
    }
    Ok(out)
}

/// One DER certificate as a PEM block.
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// When a DER certificate revocation list says its successor is due
/// (`nextUpdate`), or `None` when it cannot be read.
pub fn crl_next_update(der: &[u8]) -> Option<UnixTime> {
    let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
    crl.next_update().map(|t| t.timestamp())
}

/// The certificates a DER revocation list revokes, to carry them over when
/// it is signed again; `None` when it cannot be read.
pub fn crl_revoked(der: &[u8]) -> Option<Vec<crate::issue::Revoked>> {
    let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
    Some(
        crl.iter_revoked_certificates()
            .map(|r| crate::issue::Revoked {
                serial: r.raw_serial().to_vec(),
                at: r.revocation_date.timestamp(),
            })
            .collect(),
    )
}

/// The first certificate in PEM text.
pub fn inspect_pem(pem: &[u8]) -> Result<CertInfo, ParseError> {
    let ders = pem_certificates(pem)?;
    let first = ders
        .first()
        .ok_or_else(|| ParseError("no certificate".into()))?;
    inspect(first)
}

fn key_info(cert: &X509Certificate<'_>) -> KeyInfo {
    let spki = cert.public_key();
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        return match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyInfo::Rsa {
                bits: rsa.key_size(),
            },
            _ => KeyInfo::Other,
        };
    }
    if *alg == OID_SIG_ED25519 {
        return KeyInfo::Ed25519;
    }
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let curve = match curve {
            Some(c) if c == OID_EC_P256 => Curve::P256,
            Some(c) if c == OID_NIST_EC_P384 => Curve::P384,
            Some(c) if c == OID_NIST_EC_P521 => Curve::P521,
            _ => Curve::Unknown,
        };
        return KeyInfo::Ec { curve };
    }
    KeyInfo::Other
}

/// Parses one DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertInfo, ParseError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| ParseError(format!("not a valid X.509 certificate: {e}")))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(San::Dns((*d).to_owned())),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        sans.push(San::Ip(IpAddr::from(a)));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        sans.push(San::Ip(IpAddr::from(a)));
                    }
                }
                _ => {}
            }
        }
    }
    let digital_signature =
        matches!(cert.key_usage(), Ok(Some(ku)) if ku.value.digital_signature());
    let server_auth = match cert.extended_key_usage() {
        Ok(Some(eku)) => eku.value.server_auth || eku.value.any,
        Ok(None) => true,
        Err(_) => false,
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        key: key_info(&cert),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        self_signed: cert.subject() == cert.issuer(),
        digital_signature,
        server_auth,
        spki_der: cert.public_key().raw.to_vec(),
        serial: cert.raw_serial().to_vec(),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_matching() {
        let d = |s: &str| San::Dns(s.into());
        assert!(d("example.com").covers("Example.COM"));
        assert!(d("*.example.com").covers("api.example.com"));
        assert!(!d("*.example.com").covers("a.b.example.com"));
        assert!(!d("*.example.com").covers("example.com"));
        assert!(San::Ip("::1".parse().unwrap_or(IpAddr::from([0u8; 4]))).covers("::1"));
        assert!(
            !d("127.0.0.1").covers("127.0.0.1"),
            "an address needs an IP SAN"
        );
    }
}
