//! The planner behind `cryptobot ssl` and `serve`'s first start: the local
//! CA, the server certificate, the pairs PostgreSQL and Redis serve, client
//! certificates and their revocation list, and importing a certificate from
//! elsewhere. Every function reads the host under a [`Root`] and returns a
//! [`Plan`]; nothing here writes. Time is passed in.

use std::path::{Path, PathBuf};

use cryptobot_config::{Config, Layout, PUBLIC_FILE_MODE, SECRET_FILE_MODE, Settings};
use cryptobot_plan::{Change, Content, Owner, Plan, PlanError, Planner, Root};
use cryptobot_tls::check::RENEW_DAYS;
use cryptobot_tls::{CertInfo, KeyType, days_left, inspect_pem};
use zeroize::Zeroizing;

use crate::render;

/// Lifetime of a new local CA.
const CA_DAYS: u32 = 3650;
/// Lifetime of the CA's revocation list; re-signed by `ssl` and `ssl renew`
/// when fewer than [`RENEW_DAYS`] are left.
const CRL_DAYS: u32 = 90;
/// Marker of the certificate `serve` makes on its first start.
const SERVE_SELF_SIGNED: &str = "Cryptobot self-signed";

/// Which command found no local CA (each says what to do instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCaFor {
    /// `ssl renew`.
    Renew,
    /// `ssl client`.
    Client,
    /// `ssl revoke`.
    Revoke,
}

/// Why a certificate plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SslError {
    /// A file of the installation is a symbolic link.
    #[error("refusing to read {}: it is a symbolic link", path.display())]
    Symlink {
        /// The host path.
        path: PathBuf,
    },
    /// A file of the installation cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The host path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file named on the command line cannot be read.
    #[error("{flag} {}: {source}", path.display())]
    Arg {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file that must be PEM text is not.
    #[error("{} is not PEM text", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
    },
    /// The key given to `ssl import` is not PEM text.
    #[error("--key {} is not PEM text", path.display())]
    KeyNotPem {
        /// The file.
        path: PathBuf,
    },
    /// The CA certificate cannot be read as a certificate.
    #[error("{}: {reason}", path.display())]
    CaCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The CA key is kept off the server and was not given.
    #[error("the CA key is not on this server ({} does not exist)", path.display())]
    NoCaKey {
        /// Where it would be.
        path: PathBuf,
    },
    /// `--ca-out` was given although a CA exists.
    #[error("a CA already exists ({})", path.display())]
    CaExists {
        /// The CA certificate.
        path: PathBuf,
    },
    /// The revocation list on disk cannot be read.
    #[error("{} cannot be read as a revocation list", path.display())]
    Crl {
        /// The file.
        path: PathBuf,
    },
    /// Issuing or signing failed.
    #[error("{0}")]
    Tls(String),
    /// A path cannot be written into a rendered configuration file.
    #[error("{0}")]
    Render(String),
    /// `ssl renew` without a server certificate.
    #[error("there is no server certificate ({})", path.display())]
    NoServerCertificate {
        /// Where it would be.
        path: PathBuf,
    },
    /// The server certificate cannot be read.
    #[error("{}: {reason}", path.display())]
    ServerCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// There is no local CA.
    #[error("{}", match .0 {
        NoCaFor::Renew => "there is no local CA to renew from",
        NoCaFor::Client => "there is no local CA yet",
        NoCaFor::Revoke => "there is no local CA",
    })]
    NoCa(NoCaFor),
    /// `ssl renew` on a certificate of another CA.
    #[error("{} was not issued by the local CA", path.display())]
    NotRenewable {
        /// The server certificate.
        path: PathBuf,
    },
    /// `ssl revoke` on a certificate of another CA.
    #[error("{} was not issued by the local CA", path.display())]
    NotRevocable {
        /// The client certificate.
        path: PathBuf,
    },
    /// A client name that cannot be a file name.
    #[error("{name:?} is not a valid client name")]
    ClientName {
        /// The name given.
        name: String,
        /// Whether it was given to `revoke` (the hint differs).
        revoke: bool,
    },
    /// `ssl revoke` of a client that has no certificate.
    #[error("there is no client certificate {}", path.display())]
    NoClientCertificate {
        /// Where it would be.
        path: PathBuf,
    },
    /// `ssl import` refused the files.
    #[error("refusing to import {}: {reason}", path.display())]
    Import {
        /// The certificate given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// Only one of the server certificate and key exists.
    #[error("{} exists but {} does not", present.display(), missing.display())]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// The plan engine refused a change.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl SslError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        let text = match self {
            SslError::Symlink { .. } => "replace the link with the file itself",
            SslError::Read { .. } => "run the command as root",
            SslError::Arg { flag, .. } => return Some(format!("check the {flag} path")),
            SslError::NotPem { .. } => "give the PEM file (-----BEGIN ...)",
            SslError::KeyNotPem { .. } => "give the PEM private key",
            SslError::CaCertificate { .. } => "restore the CA certificate from your backup",
            SslError::NoCaKey { .. } => {
                "give it with --ca-key FILE (it was kept apart with --ca-out)"
            }
            SslError::CaExists { .. } => {
                "--ca-out only applies when a new CA is created; move ca.key off the server by hand"
            }
            SslError::Crl { .. } => {
                "restore it from your backup; deleting it forgets every revocation"
            }
            SslError::Tls(_) | SslError::Render(_) => return None,
            SslError::NoServerCertificate { .. } => "create one with `cryptobot ssl`",
            SslError::ServerCertificate { .. } => "re-create it with `cryptobot ssl --force`",
            SslError::NoCa(NoCaFor::Renew) => {
                "create it with `cryptobot ssl`, or import a renewed certificate with `cryptobot ssl import`"
            }
            SslError::NoCa(_) => "create it with `cryptobot ssl`",
            SslError::NotRenewable { .. } => {
                "renew it with its own CA and install it with `cryptobot ssl import` (or replace it: `cryptobot ssl --force`)"
            }
            SslError::NotRevocable { .. } => "only the CA that issued a certificate can revoke it",
            SslError::ClientName { revoke: false, .. } => {
                "use 1-64 letters, digits, '.', '_' or '-', e.g. strategy-1"
            }
            SslError::ClientName { revoke: true, .. } => {
                "use the NAME given to `cryptobot ssl client`"
            }
            SslError::NoClientCertificate { .. } => {
                "`cryptobot ssl status` lists the client certificates"
            }
            SslError::Import { hint, .. } => return Some(hint.clone()),
            SslError::HalfPair { .. } => {
                "put the matching file in place, or remove both to get a self-signed localhost certificate"
            }
            SslError::Plan(e) => return e.hint(),
        };
        Some(text.to_string())
    }

    /// Whether the input (flags, configuration, files on the host) is at
    /// fault, rather than the machine or a library.
    pub fn is_input(&self) -> bool {
        !matches!(self, SslError::Read { .. } | SslError::Tls(_))
    }
}

fn tls_error(e: impl std::fmt::Display) -> SslError {
    SslError::Tls(e.to_string())
}

/// Files of the installation's TLS material (host paths).
#[derive(Debug, Clone)]
pub struct Paths {
    /// The server certificate `serve` uses.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// The local CA's directory.
    pub ca_dir: PathBuf,
    /// The CA certificate clients trust.
    pub ca_cert: PathBuf,
    /// The CA key (absent when kept off the server).
    pub ca_key: PathBuf,
    /// Client certificates.
    pub clients: PathBuf,
    /// PostgreSQL's certificate.
    pub pg_cert: PathBuf,
    /// PostgreSQL's key.
    pub pg_key: PathBuf,
    /// Redis's certificate.
    pub redis_cert: PathBuf,
    /// Redis's key.
    pub redis_key: PathBuf,
    /// The CA copy Redis can read.
    pub redis_ca: PathBuf,
}

/// The local CA: certificate and key, as PEM text.
struct Ca {
    cert: String,
    key: Zeroizing<String>,
    info: CertInfo,
}

/// What a new CA brings that is not in the plan: its key, when `--ca-out`
/// keeps it off the server.
pub struct Setup {
    /// The plan.
    pub plan: Plan,
    /// The new CA key for the `--ca-out` directory.
    pub ca_key_out: Option<Zeroizing<String>>,
}

/// One certificate `ssl status` shows.
pub struct StatusRow {
    /// server, ca, postgresql, redis or client.
    pub role: &'static str,
    /// The host path.
    pub path: PathBuf,
    /// What it says, or why it cannot be read.
    pub info: Result<CertInfo, String>,
}

/// The certificate planner for one installation at one moment.
pub struct Ssl<'a> {
    /// The target system.
    pub root: &'a Root,
    /// The installation.
    pub layout: &'a Layout,
    /// The configuration.
    pub config: &'a Config,
    /// Unix time in seconds.
    pub now: i64,
}

impl Ssl<'_> {
    /// The installation's TLS files.
    pub fn paths(&self) -> Paths {
        let layout = self.layout;
        let server = &self.config.settings().server;
        let ca_dir = layout.tls_dir().join("ca");
        let (pg_cert, pg_key) = render::pg_tls_files(layout);
        let (redis_cert, redis_key, redis_ca) = render::redis_tls_files(layout);
        Paths {
            cert: layout.resolve(&server.tls_cert),
            key: layout.resolve(&server.tls_key),
            ca_cert: ca_dir.join("ca.crt"),
            ca_key: ca_dir.join("ca.key"),
            ca_dir,
            clients: layout.tls_dir().join("clients"),
            pg_cert,
            pg_key,
            redis_cert,
            redis_key,
            redis_ca,
        }
    }

    /// Reads a host file under the root; `None` when it does not exist. A
    /// symbolic link is refused.
    fn read_host(&self, path: &Path) -> Result<Option<Vec<u8>>, SslError> {
        read_host(self.root, path)
    }

    fn key_type(&self) -> KeyType {
        KeyType::parse(&self.config.settings().tls.key_type).unwrap_or(KeyType::EcdsaP256)
    }

    /// Loads the existing CA, `None` when there is none yet.
    fn load_ca(&self, p: &Paths, ca_key: Option<&Path>) -> Result<Option<Ca>, SslError> {
        let Some(cert) = self.read_host(&p.ca_cert)? else {
            return Ok(None);
        };
        let cert = to_text(cert, &p.ca_cert)?;
        let info = inspect_pem(cert.as_bytes()).map_err(|e| SslError::CaCertificate {
            path: p.ca_cert.clone(),
            reason: e.to_string(),
        })?;
        let key = match ca_key {
            Some(file) => to_text(read_arg(file, "--ca-key")?, file)?,
            None => match self.read_host(&p.ca_key)? {
                Some(k) => to_text(k, &p.ca_key)?,
                None => {
                    return Err(SslError::NoCaKey {
                        path: p.ca_key.clone(),
                    });
                }
            },
        };
        Ok(Some(Ca {
            cert,
            key: Zeroizing::new(key),
            info,
        }))
    }

    /// Where certificates of the local CA say its revocation list is: this
    /// service, at the first host name of `[tls].san` (or its first address).
    fn crl_url(&self) -> String {
        let settings = self.config.settings();
        let san = &settings.tls.san;
        let host = san
            .iter()
            .find(|n| n.parse::<std::net::IpAddr>().is_err())
            .cloned()
            .or_else(|| {
                san.first().map(|a| match a.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V6(_)) => format!("[{a}]"),
                    _ => a.clone(),
                })
            })
            .unwrap_or_else(|| "localhost".to_owned());
        format!("https://{host}:{}/pki/ca.crl", settings.server.bind.port())
    }

    /// Plans a freshly signed revocation list when there is none, it is due
    /// within [`RENEW_DAYS`], `force`, or `revoke` adds a certificate.
    /// Entries of the current list are carried over.
    fn plan_crl(
        &self,
        planner: &mut Planner<'_>,
        ca: &Ca,
        force: bool,
        revoke: Option<cryptobot_tls::Revoked>,
    ) -> Result<(), SslError> {
        let path = self.layout.tls_dir().join("ca.crl");
        let current = self.read_host(&path)?;
        let due = match &current {
            None => true,
            Some(der) => cryptobot_tls::inspect::crl_next_update(der)
                .is_none_or(|next| days_left(next, self.now) < RENEW_DAYS),
        };
        if !(due || force || revoke.is_some()) {
            return Ok(());
        }
        let mut revoked = match &current {
            Some(der) => cryptobot_tls::inspect::crl_revoked(der)
                .ok_or_else(|| SslError::Crl { path: path.clone() })?,
            None => Vec::new(),
        };
        if let Some(r) = revoke
            && !revoked.iter().any(|e| e.serial == r.serial)
        {
            revoked.push(r);
        }
        let der = cryptobot_tls::crl(
            &ca.cert,
            &ca.key,
            u64::try_from(self.now).unwrap_or(1),
            self.now,
            CRL_DAYS,
            &revoked,
        )
        .map_err(tls_error)?;
        let owner = planner.owner_of(&self.layout.tls_dir())?;
        planner.ensure_file(&path, Content::Bytes(der), PUBLIC_FILE_MODE, owner)?;
        Ok(())
    }

    /// A server certificate for `names` from the local CA.
    fn issue_for(&self, ca: &Ca, names: &[String]) -> Result<cryptobot_tls::Issued, SslError> {
        cryptobot_tls::issue_server(
            &ca.cert,
            &ca.key,
            names,
            self.key_type(),
            self.now,
            self.config.settings().tls.validity_days,
            Some(&self.crl_url()),
        )
        .map_err(tls_error)
    }

    /// Plans the server certificate and the pairs of PostgreSQL and Redis,
    /// issued by `ca`.
    fn plan_server(&self, planner: &mut Planner<'_>, p: &Paths, ca: &Ca) -> Result<(), SslError> {
        let issued = self.issue_for(ca, &self.config.settings().tls.san)?;
        let owner = server_pair_owner(planner, p)?;
        plan_pair(
            planner,
            (&p.cert, issued.cert_pem.clone(), owner.clone()),
            (&p.key, issued.key_pem.as_bytes(), owner),
        )?;
        self.plan_services(planner, p, ca, false)
    }

    /// Plans the pairs of PostgreSQL and Redis (where `secure-config` laid
    /// them out) and rewrites their includes to turn TLS on. With
    /// `only_missing`, only a pair that does not exist yet is issued (the
    /// server certificate is not due, but an older installation has no pair).
    fn plan_services(
        &self,
        planner: &mut Planner<'_>,
        p: &Paths,
        ca: &Ca,
        only_missing: bool,
    ) -> Result<(), SslError> {
        let settings = self.config.settings();
        let wanted = |planner: &mut Planner<'_>, service: &Service<'_>| -> Result<bool, SslError> {
            Ok(service.laid_out(planner)?
                && (!only_missing || self.read_host(service.cert)?.is_none()))
        };

        // PostgreSQL's pair and its include, when secure-config laid them out.
        let pg = Service {
            name: "PostgreSQL",
            account: "postgres",
            dir: self.layout.postgres_dir(),
            cert: &p.pg_cert,
            key: &p.pg_key,
            names: settings.tls.san.clone(),
        };
        if wanted(planner, &pg)? {
            pg.plan_pair(self, planner, ca)?;
            let include = self.layout.pg_include();
            if planner.owner_of(&include)?.is_some() {
                let text = render::pg_include(self.layout, true)
                    .map_err(|e| SslError::Render(e.to_string()))?;
                planner.ensure_file(&include, Content::Text(text), PUBLIC_FILE_MODE, None)?;
                planner.note(format!(
                    "PostgreSQL serves TLS after a restart: {} now sets ssl = on",
                    include.display()
                ));
            }
        }

        // Redis's pair, the CA next to it (Redis cannot read config/tls/), and
        // its include, when secure-config laid them out. Loopback names always:
        // clients reach it at 127.0.0.1.
        let mut names = settings.tls.san.clone();
        for n in ["127.0.0.1", "::1", "localhost"] {
            if !names.iter().any(|m| m == n) {
                names.push(n.to_owned());
            }
        }
        let redis = Service {
            name: "Redis",
            account: "redis",
            dir: self.layout.redis_dir(),
            cert: &p.redis_cert,
            key: &p.redis_key,
            names,
        };
        let issued = wanted(planner, &redis)?;
        if issued {
            redis.plan_pair(self, planner, ca)?;
            let dir_owner = planner.owner_of(&redis.dir)?;
            planner.ensure_file(
                &p.redis_ca,
                Content::Text(ca.cert.clone()),
                PUBLIC_FILE_MODE,
                dir_owner,
            )?;
        }
        // The include follows `redis.server_tls` on every run, so turning it on
        // (or off) takes effect without waiting for a renewal.
        let has_pair =
            issued || (redis.laid_out(planner)? && self.read_host(&p.redis_cert)?.is_some());
        let include = self.layout.redis_include();
        if !has_pair {
            return Ok(());
        }
        if planner.owner_of(&include)?.is_none() {
            planner.note(format!(
                "{} does not exist: run `cryptobot secure-config`, which renders it and includes it from redis.conf",
                include.display()
            ));
            return Ok(());
        }
        let text = render::redis_include(self.config, self.layout, true)
            .map_err(|e| SslError::Render(e.to_string()))?;
        let changed = self.read_host(&include)?.as_deref() != Some(text.as_bytes());
        planner.ensure_file(&include, Content::Text(text), PUBLIC_FILE_MODE, None)?;
        let port = settings.services.redis.port;
        if !changed {
            return Ok(());
        }
        if settings.redis.server_tls {
            planner.note(format!(
                "Redis serves TLS after a restart: {} now sets tls-port {port} and port 0 (no plain text)",
                include.display()
            ));
            planner.note(format!(
                "the service connects to it with (cryptobot.toml):\n  redis.url = \"rediss://127.0.0.1:{port}\"\n  redis.ca_file = \"{}\"",
                p.redis_ca.display()
            ));
        } else {
            planner.note(
                "Redis's pair is ready; Redis keeps speaking plain text on loopback until `server_tls = true` is set in [redis] of cryptobot.toml and `cryptobot ssl` runs again (move every client of that Redis to TLS first)",
            );
        }
        Ok(())
    }

    /// `cryptobot ssl`: the CA if there is none, and the server certificate
    /// when it is missing, `serve`'s first self-signed one, does not cover
    /// `[tls].san`, is due for renewal, or `force`. With `ca_out`, a new
    /// CA's key is returned instead of planned (the caller writes it there
    /// before applying the plan).
    pub fn setup(
        &self,
        force: bool,
        ca_key: Option<&Path>,
        ca_out: Option<&Path>,
    ) -> Result<Setup, SslError> {
        let p = self.paths();
        let mut planner = Planner::new(self.root);
        let mut ca_key_out = None;
        let ca = match self.load_ca(&p, ca_key)? {
            Some(ca) => {
                if ca_out.is_some() {
                    return Err(SslError::CaExists {
                        path: p.ca_cert.clone(),
                    });
                }
                ca
            }
            None => {
                let made =
                    cryptobot_tls::new_ca(self.key_type(), self.now, CA_DAYS).map_err(tls_error)?;
                let info = inspect_pem(made.cert_pem.as_bytes()).map_err(tls_error)?;
                ensure_dir(&mut planner, &self.layout.tls_dir(), 0o700)?;
                ensure_dir(&mut planner, &p.ca_dir, 0o700)?;
                planner.ensure_file(
                    &p.ca_cert,
                    Content::Text(made.cert_pem.clone()),
                    PUBLIC_FILE_MODE,
                    Some(Owner::root()),
                )?;
                match ca_out {
                    None => planner.ensure_file(
                        &p.ca_key,
                        Content::secret(made.key_pem.as_bytes().to_vec()),
                        SECRET_FILE_MODE,
                        Some(Owner::root()),
                    )?,
                    Some(dir) => {
                        planner.note(format!(
                            "the CA key is written to {} only: keep it offline, and give it with --ca-key to renew or issue",
                            dir.join("ca.key").display()
                        ));
                        ca_key_out = Some(made.key_pem.clone());
                    }
                }
                Ca {
                    cert: made.cert_pem,
                    key: made.key_pem,
                    info,
                }
            }
        };

        let new_ca = planner
            .plan()
            .changes()
            .iter()
            .any(|c| matches!(c, Change::WriteFile { path, .. } if *path == p.ca_cert));
        self.plan_crl(&mut planner, &ca, new_ca, None)?;
        let names = &self.config.settings().tls.san;
        let reason = match self.read_host(&p.cert)? {
            None => Some("there is none".to_string()),
            Some(pem) => match inspect_pem(&pem) {
                Err(_) => Some("the current file cannot be read".to_string()),
                Ok(cur)
                    if cur.subject.contains(SERVE_SELF_SIGNED)
                        || cur.issuer.contains(SERVE_SELF_SIGNED) =>
                {
                    Some("the current one is serve's first self-signed certificate".to_string())
                }
                Ok(cur) if !issued_by(&cur, &ca.info) => {
                    if force {
                        Some(
                            "--force replaces a certificate the local CA did not issue".to_string(),
                        )
                    } else {
                        planner.note(format!(
                            "{} was not issued by the local CA (imported?): kept; --force replaces it",
                            p.cert.display()
                        ));
                        None
                    }
                }
                Ok(cur) => {
                    let missing: Vec<&str> = names
                        .iter()
                        .filter(|n| !cur.sans.iter().any(|s| s.covers(n)))
                        .map(String::as_str)
                        .collect();
                    let left = days_left(cur.not_after, self.now);
                    if !missing.is_empty() {
                        Some(format!("it does not cover {}", missing.join(", ")))
                    } else if left < RENEW_DAYS {
                        Some(format!("it expires in {left} days"))
                    } else if force {
                        Some("--force".to_string())
                    } else {
                        None
                    }
                }
            },
        };
        if let Some(why) = &reason {
            self.plan_server(&mut planner, &p, &ca)?;
            planner.note(format!(
                "server certificate for {} issued by the local CA ({why}); running servers pick it up within a second",
                names.join(", ")
            ));
        } else {
            self.plan_services(&mut planner, &p, &ca, true)?;
        }
        Ok(Setup {
            plan: planner.finish(),
            ca_key_out,
        })
    }

    /// `cryptobot ssl renew`: a new server certificate (and the services'
    /// pairs) when fewer than [`RENEW_DAYS`] are left, or `force`.
    pub fn renew(&self, force: bool, ca_key: Option<&Path>) -> Result<Plan, SslError> {
        let p = self.paths();
        let Some(pem) = self.read_host(&p.cert)? else {
            return Err(SslError::NoServerCertificate { path: p.cert });
        };
        let cur = inspect_pem(&pem).map_err(|e| SslError::ServerCertificate {
            path: p.cert.clone(),
            reason: e.to_string(),
        })?;
        let left = days_left(cur.not_after, self.now);
        let Some(ca) = self.load_ca(&p, ca_key)? else {
            return Err(SslError::NoCa(NoCaFor::Renew));
        };
        if !issued_by(&cur, &ca.info) {
            return Err(SslError::NotRenewable { path: p.cert });
        }
        let mut planner = Planner::new(self.root);
        self.plan_crl(&mut planner, &ca, force, None)?;
        if left < RENEW_DAYS || force {
            self.plan_server(&mut planner, &p, &ca)?;
            planner.note(format!(
                "renewed: the old certificate had {left} days left{}",
                if force && left >= RENEW_DAYS {
                    " (--force)"
                } else {
                    ""
                }
            ));
        } else {
            planner.note(format!(
                "not renewed: {left} days left (renewal starts at {RENEW_DAYS}; --force renews now)"
            ));
        }
        Ok(planner.finish())
    }

    /// `cryptobot ssl client NAME`: a client certificate for mutual TLS.
    pub fn client(&self, name: &str, ca_key: Option<&Path>) -> Result<Plan, SslError> {
        if !valid_client_name(name) {
            return Err(SslError::ClientName {
                name: name.to_owned(),
                revoke: false,
            });
        }
        let p = self.paths();
        let Some(ca) = self.load_ca(&p, ca_key)? else {
            return Err(SslError::NoCa(NoCaFor::Client));
        };
        let issued = cryptobot_tls::issue_client(
            &ca.cert,
            &ca.key,
            name,
            self.key_type(),
            self.now,
            self.config.settings().tls.validity_days,
            Some(&self.crl_url()),
        )
        .map_err(tls_error)?;
        let mut planner = Planner::new(self.root);
        ensure_dir(&mut planner, &p.clients, 0o700)?;
        let crt = p.clients.join(format!("{name}.crt"));
        let key = p.clients.join(format!("{name}.key"));
        plan_pair(
            &mut planner,
            (&crt, issued.cert_pem.clone(), None),
            (&key, issued.key_pem.as_bytes(), None),
        )?;
        planner.note(format!(
            "client certificate {} and key {} (hand both to the client; it trusts the server with ca/ca.crt)",
            crt.display(),
            key.display()
        ));
        Ok(planner.finish())
    }

    /// `cryptobot ssl revoke NAME`: the client certificate goes on the CRL
    /// (served at `/pki/ca.crl` from the next request) and its files are
    /// removed, so the name can be issued again.
    pub fn revoke(&self, name: &str, ca_key: Option<&Path>) -> Result<Plan, SslError> {
        if !valid_client_name(name) {
            return Err(SslError::ClientName {
                name: name.to_owned(),
                revoke: true,
            });
        }
        let p = self.paths();
        let crt = p.clients.join(format!("{name}.crt"));
        let Some(pem) = self.read_host(&crt)? else {
            return Err(SslError::NoClientCertificate { path: crt });
        };
        let info = inspect_pem(&pem).map_err(tls_error)?;
        let Some(ca) = self.load_ca(&p, ca_key)? else {
            return Err(SslError::NoCa(NoCaFor::Revoke));
        };
        if !issued_by(&info, &ca.info) {
            return Err(SslError::NotRevocable { path: crt });
        }
        let mut planner = Planner::new(self.root);
        let serial = info.serial.clone();
        self.plan_crl(
            &mut planner,
            &ca,
            false,
            Some(cryptobot_tls::Revoked {
                serial: serial.clone(),
                at: self.now,
            }),
        )?;
        planner.ensure_absent(&crt)?;
        planner.ensure_absent(&p.clients.join(format!("{name}.key")))?;
        planner.note(format!(
            "revoked {name} (serial {}): it is on the revocation list /pki/ca.crl serves",
            serial
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        ));
        Ok(planner.finish())
    }

    /// `cryptobot ssl import`: a certificate from elsewhere, checked first
    /// (key match, chain, names, validity, key strength).
    pub fn import(&self, cert: &Path, key: &Path, chain: Option<&Path>) -> Result<Plan, SslError> {
        let p = self.paths();
        let cert_pem = read_arg(cert, "--cert")?;
        let key_pem = Zeroizing::new(read_arg(key, "--key")?);
        let chain_pem = chain.map(|c| read_arg(c, "--chain")).transpose()?;
        let system_roots = self.read_host(Path::new("/etc/ssl/certs/ca-certificates.crt"))?;
        let info = cryptobot_tls::check_pair(
            &cert_pem,
            &key_pem,
            chain_pem.as_deref(),
            system_roots.as_deref(),
            &self.config.settings().tls.san,
            self.now,
        )
        .map_err(|e| SslError::Import {
            path: cert.to_path_buf(),
            reason: e.to_string(),
            hint: e.hint().to_string(),
        })?;
        // Install the leaf followed by the intermediates (not self-signed roots).
        let mut full = Vec::new();
        let mut blocks = cryptobot_tls::inspect::pem_certificates(&cert_pem).map_err(tls_error)?;
        if let Some(c) = &chain_pem {
            blocks.extend(cryptobot_tls::inspect::pem_certificates(c).map_err(tls_error)?);
        }
        for (i, der) in blocks.iter().enumerate() {
            let self_signed = cryptobot_tls::inspect(der)
                .map(|c| c.self_signed)
                .unwrap_or(false);
            if i == 0 || !self_signed {
                full.push(cryptobot_tls::inspect::certificate_pem(der));
            }
        }
        let key_text = Zeroizing::new(String::from_utf8(key_pem.to_vec()).map_err(|_| {
            SslError::KeyNotPem {
                path: key.to_path_buf(),
            }
        })?);
        let mut planner = Planner::new(self.root);
        let owner = server_pair_owner(&mut planner, &p)?;
        plan_pair(
            &mut planner,
            (&p.cert, full.concat(), owner.clone()),
            (&p.key, key_text.as_bytes(), owner),
        )?;
        planner.note(format!(
            "imported {} ({}, {} days left, issued by {}); running servers pick it up within a second",
            info.subject,
            info.key,
            days_left(info.not_after, self.now),
            info.issuer
        ));
        Ok(planner.finish())
    }

    /// `cryptobot ssl status`: every certificate of the installation that
    /// exists, read.
    pub fn status(&self) -> Result<Vec<StatusRow>, SslError> {
        let p = self.paths();
        let mut files = vec![
            ("server", p.cert.clone()),
            ("ca", p.ca_cert.clone()),
            ("postgresql", p.pg_cert.clone()),
            ("redis", p.redis_cert.clone()),
        ];
        if let Ok(entries) = std::fs::read_dir(self.root.host(&p.clients)?) {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".crt"))
                .collect();
            names.sort();
            for n in names {
                files.push(("client", p.clients.join(n)));
            }
        }
        let mut rows = Vec::new();
        for (role, path) in files {
            let Some(pem) = self.read_host(&path)? else {
                continue;
            };
            let info = inspect_pem(&pem).map_err(|e| e.to_string());
            rows.push(StatusRow { role, path, info });
        }
        Ok(rows)
    }
}

/// `serve`'s first start: a self-signed `localhost` certificate when neither
/// file of `server.tls_cert`/`server.tls_key` exists. `None` when both do;
/// an error when only one does. Returns the plan and the certificate path.
pub fn self_signed(
    root: &Root,
    layout: &Layout,
    settings: &Settings,
    now: i64,
) -> Result<Option<(Plan, PathBuf)>, SslError> {
    let cert = layout.resolve(&settings.server.tls_cert);
    let key = layout.resolve(&settings.server.tls_key);
    let exists = |p: &Path| root.host(p).map(|real| real.exists());
    match (exists(&cert)?, exists(&key)?) {
        (true, true) => return Ok(None),
        (false, false) => {}
        (has_cert, _) => {
            let (present, missing) = if has_cert { (cert, key) } else { (key, cert) };
            return Err(SslError::HalfPair { present, missing });
        }
    }
    let made = cryptobot_tls::self_signed_localhost(now).map_err(tls_error)?;
    let mut planner = Planner::new(root);
    for dir in [cert.parent(), key.parent()].into_iter().flatten() {
        if !root.host(dir)?.exists() {
            planner.ensure_dir(dir, 0o700, None)?;
        }
    }
    planner.ensure_file(
        &cert,
        Content::Text(made.cert_pem.clone()),
        PUBLIC_FILE_MODE,
        None,
    )?;
    planner.ensure_file(
        &key,
        Content::secret(made.key_pem.as_bytes().to_vec()),
        SECRET_FILE_MODE,
        None,
    )?;
    Ok(Some((planner.finish(), cert)))
}

/// A server that reads a key pair of the local CA from the directory
/// `secure-config` laid out for it.
struct Service<'a> {
    /// As operators know it: "PostgreSQL".
    name: &'static str,
    /// The account it runs as, which must own its key.
    account: &'static str,
    dir: PathBuf,
    cert: &'a Path,
    key: &'a Path,
    names: Vec<String>,
}

impl Service<'_> {
    /// Whether `secure-config` laid out its directory.
    fn laid_out(&self, planner: &mut Planner<'_>) -> Result<bool, SslError> {
        Ok(planner.owner_of(&self.dir)?.is_some())
    }

    /// Plans its pair: the certificate owned like its directory, the key by
    /// its account (0600; servers refuse a key readable by others), or by
    /// root with a note when that account does not exist.
    fn plan_pair(&self, ssl: &Ssl<'_>, planner: &mut Planner<'_>, ca: &Ca) -> Result<(), SslError> {
        let issued = ssl.issue_for(ca, &self.names)?;
        let dir_owner = planner.owner_of(&self.dir)?;
        let account = planner.existing_user(self.account)?;
        if account.is_none() {
            planner.note(format!(
                "there is no {} account: {} belongs to root; give it to the account {} runs as (mode 0600)",
                self.account,
                self.key.display(),
                self.name
            ));
        }
        plan_pair(
            planner,
            (self.cert, issued.cert_pem.clone(), dir_owner),
            (self.key, issued.key_pem.as_bytes(), account),
        )
    }
}

/// Reads a host file under the root; `None` when it does not exist. A
/// symbolic link is refused.
fn read_host(root: &Root, path: &Path) -> Result<Option<Vec<u8>>, SslError> {
    let real = root.host(path)?;
    let read_error = |source| SslError::Read {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(&real) {
        Ok(m) if m.file_type().is_symlink() => Err(SslError::Symlink {
            path: path.to_path_buf(),
        }),
        Ok(_) => std::fs::read(&real).map(Some).map_err(read_error),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(e)),
    }
}

/// Reads a file the operator named on the command line.
fn read_arg(path: &Path, flag: &'static str) -> Result<Vec<u8>, SslError> {
    std::fs::read(path).map_err(|source| SslError::Arg {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn to_text(bytes: Vec<u8>, path: &Path) -> Result<String, SslError> {
    String::from_utf8(bytes).map_err(|_| SslError::NotPem {
        path: path.to_path_buf(),
    })
}

/// Whether a certificate was issued by this CA.
fn issued_by(cert: &CertInfo, ca: &CertInfo) -> bool {
    cert.issuer == ca.subject && !cert.self_signed
}

fn ensure_dir(planner: &mut Planner<'_>, dir: &Path, mode: u32) -> Result<(), SslError> {
    if planner.owner_of(dir)?.is_none() {
        planner.ensure_dir(dir, mode, None)?;
    }
    Ok(())
}

/// Makes sure the server certificate's directories exist; returns the
/// owner its files get (that of the certificate's directory).
fn server_pair_owner(planner: &mut Planner<'_>, p: &Paths) -> Result<Option<Owner>, SslError> {
    for dir in [p.cert.parent(), p.key.parent()].into_iter().flatten() {
        ensure_dir(planner, dir, 0o700)?;
    }
    match p.cert.parent() {
        Some(d) => Ok(planner.owner_of(d)?),
        None => Ok(None),
    }
}

/// Plans a certificate (0644) and its key (0600, a secret).
fn plan_pair(
    planner: &mut Planner<'_>,
    (cert, cert_pem, cert_owner): (&Path, String, Option<Owner>),
    (key, key_pem, key_owner): (&Path, &[u8], Option<Owner>),
) -> Result<(), SslError> {
    planner.ensure_file(cert, Content::Text(cert_pem), PUBLIC_FILE_MODE, cert_owner)?;
    planner.ensure_file(
        key,
        Content::secret(key_pem.to_vec()),
        SECRET_FILE_MODE,
        key_owner,
    )?;
    Ok(())
}

/// A client name: becomes a file name and a common name.
pub fn valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        for ok in ["strategy-1", "a", "bot.eu_2"] {
            assert!(valid_client_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_client_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn input_errors_and_hints() {
        let e = SslError::NoCa(NoCaFor::Renew);
        assert_eq!(e.to_string(), "there is no local CA to renew from");
        assert!(e.is_input());
        assert!(e.hint().is_some_and(|h| h.contains("ssl import")));
        assert!(!SslError::Tls("x".into()).is_input());
    }
}
