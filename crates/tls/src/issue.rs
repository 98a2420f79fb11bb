//! A local CA and the certificates it issues.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::UnixTime;

/// Key algorithm of a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: small, fast, universal).
    EcdsaP256,
    /// RSA 3072 with SHA-256, for clients that cannot do ECDSA.
    Rsa3072,
}

impl KeyType {
    /// Parses the configuration value (`ecdsa-p256`, `rsa-3072`).
    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "ecdsa-p256" => Some(KeyType::EcdsaP256),
            "rsa-3072" => Some(KeyType::Rsa3072),
            _ => None,
        }
    }

    fn generate(self) -> Result<KeyPair, IssueError> {
        match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            }
        }
        .map_err(|e| IssueError::Generate(e.to_string()))
    }
}

/// A certificate and its private key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("could not create a key: {0}")]
    Generate(String),
    #[error("{name:?} is not a valid DNS name or IP address for a certificate")]
    BadName { name: String },
    #[error("the CA certificate or key cannot be used: {0}")]
    BadCa(String),
    #[error("could not sign the certificate: {0}")]
    Sign(String),
}

fn at(t: UnixTime) -> Result<OffsetDateTime, IssueError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(|e| IssueError::Sign(e.to_string()))
}

/// Backdating of `not_before`, for clocks slightly behind.
const BACKDATE: i64 = 300;

fn base_params(
    common_name: &str,
    now: UnixTime,
    days: u32,
) -> Result<CertificateParams, IssueError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Cryptobot");
    params.distinguished_name = dn;
    params.not_before = at(now - BACKDATE)?;
    params.not_after = at(now + i64::from(days) * 86_400)?;
    // A random positive serial (RFC 5280: at most 20 octets, unique per CA).
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| IssueError::Generate(e.to_string()))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    Ok(params)
}

/// Subject alternative names: addresses as IP SANs, the rest as DNS SANs.
pub fn sans(names: &[String]) -> Result<Vec<SanType>, IssueError> {
    names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| IssueError::BadName { name: n.clone() }),
        })
        .collect()
}

/// A new CA: basic constraints CA with path length 0 (it signs only end
/// certificates), key usage certificate and CRL signing.
pub fn new_ca(key_type: KeyType, now: UnixTime, days: u32) -> Result<Issued, IssueError> {
    let key = key_type.generate()?;
    let mut params = base_params("Cryptobot local CA", now, days)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params
        .self_signed(&key)
        .map_err(|e| IssueError::Sign(e.to_string()))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

fn signed(
    params: CertificateParams,
    key: KeyPair,
    ca_cert_pem: &str,
    ca_key_pem: &str,
) -> Result<Issued, IssueError> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| IssueError::BadCa(e.to_string()))?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .map_err(|e| IssueError::BadCa(e.to_string()))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| IssueError::Sign(e.to_string()))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// A server certificate for `names` (the first is the common name):
/// `serverAuth`, `digitalSignature`, not a CA; `crl_url` is where the CA's
/// revocation list is published.
pub fn issue_server(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    names: &[String],
    key_type: KeyType,
    now: UnixTime,
    days: u32,
    crl_url: Option<&str>,
) -> Result<Issued, IssueError> {
    let first = names.first().map_or("localhost", String::as_str);
    let mut params = base_params(first, now, days)?;
    params.subject_alt_names = sans(names)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = crl_points(crl_url);
    signed(params, key_type.generate()?, ca_cert_pem, ca_key_pem)
}

/// A client certificate for mutual TLS: common name `name`, `clientAuth`.
pub fn issue_client(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    name: &str,
    key_type: KeyType,
    now: UnixTime,
    days: u32,
    crl_url: Option<&str>,
) -> Result<Issued, IssueError> {
    let mut params = base_params(name, now, days)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = crl_points(crl_url);
    signed(params, key_type.generate()?, ca_cert_pem, ca_key_pem)
}

fn crl_points(url: Option<&str>) -> Vec<rcgen::CrlDistributionPoint> {
    url.map(|u| rcgen::CrlDistributionPoint {
        uris: vec![u.to_owned()],
    })
    .into_iter()
    .collect()
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number, big-endian bytes as in the certificate.
    pub serial: Vec<u8>,
    /// When the CA revoked it.
    pub at: UnixTime,
}

/// The CA's certificate revocation list (DER), number `number` (increasing),
/// valid for `days`, listing `revoked`.
pub fn crl(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    number: u64,
    now: UnixTime,
    days: u32,
    revoked: &[Revoked],
) -> Result<Vec<u8>, IssueError> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| IssueError::BadCa(e.to_string()))?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .map_err(|e| IssueError::BadCa(e.to_string()))?;
    let params = rcgen::CertificateRevocationListParams {
        this_update: at(now - BACKDATE)?,
        next_update: at(now + i64::from(days) * 86_400)?,
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| {
                Ok(rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(&r.serial),
                    revocation_time: at(r.at)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<_, IssueError>>()?,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let list = params
        .signed_by(&issuer)
        .map_err(|e| IssueError::Sign(e.to_string()))?;
    Ok(list.der().to_vec())
}
