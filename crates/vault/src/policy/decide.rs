//! Permissions, the decision rules and the one entry point, [`check`].

use super::entry::{Class, Params};
use super::params::{
    Destination, check_freshness, check_parameters, destination, parameter_names, payload_sha256,
};
use super::table::classify;
use super::{Reason, Refusal, check_path, clip, normalize_method};
use crate::sign::{Exchange, SignRequest};

/// A key's declared permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Permissions {
    /// `read`: market and account reads.
    pub read: bool,
    /// `trade`: orders (and reads).
    pub trade: bool,
    /// `withdraw`: withdrawals and transfers (with the setting and a
    /// fresh step-up).
    pub withdraw: bool,
    /// `account-admin`: API keys, sub-accounts, security settings.
    pub account_admin: bool,
}

/// A permission name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{0}`; use read, trade, withdraw or account-admin")]
pub struct PermissionError(pub String);

impl Permissions {
    /// Parses names (`read`, `trade`, `withdraw`, `account-admin`; case
    /// and surrounding spaces ignored, empty items skipped).
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PermissionError> {
        let mut p = Permissions::default();
        for name in names {
            match name.trim().to_ascii_lowercase().as_str() {
                "" => {}
                "read" => p.read = true,
                "trade" => p.trade = true,
                "withdraw" => p.withdraw = true,
                "account-admin" => p.account_admin = true,
                _ => return Err(PermissionError(clip(name))),
            }
        }
        Ok(p)
    }

    /// Parses a comma-separated list such as `read,trade`.
    pub fn parse(list: &str) -> Result<Self, PermissionError> {
        Self::from_names(list.split(','))
    }

    /// The names, in the order read, trade, withdraw, account-admin.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.read, "read"),
            (self.trade, "trade"),
            (self.withdraw, "withdraw"),
            (self.account_admin, "account-admin"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }
}

impl std::fmt::Display for Permissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.names();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// An operator's extra path for one key (`[vault.extra_paths]`): an exact
/// method and path the table does not know, and its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPath {
    /// Upper-case method.
    pub method: String,
    /// Canonical path, matched exactly.
    pub path: String,
    /// Its class (never `unknown`).
    pub class: Class,
    /// Its documented parameter names; required for Binance and Bybit,
    /// whose signatures do not cover the path, ignored elsewhere.
    pub params: Option<Vec<String>>,
}

impl ExtraPath {
    /// Checks an operator's entry: a signed method, a canonical path, a
    /// class other than `unknown`.
    pub fn new(
        method: &str,
        path: &str,
        class: Class,
        params: Option<Vec<String>>,
    ) -> Result<ExtraPath, Reason> {
        let method = normalize_method(method)?;
        check_path(path)?;
        if class == Class::Unknown {
            return Err(Reason::MalformedParameters(
                "an extra path needs a class: read, trade, withdraw or account-admin",
            ));
        }
        Ok(ExtraPath {
            method,
            path: path.to_string(),
            class,
            params,
        })
    }
}

/// What the policy knows about one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPolicy {
    /// Its declared permissions.
    pub permissions: Permissions,
    /// The operator's extra paths for it.
    pub extra_paths: Vec<ExtraPath>,
    /// OKX: the key may hand its passphrase out in the signed headers
    /// (`--passphrase-in-headers`); without it OKX requests are refused.
    pub passphrase_in_headers: bool,
}

/// Installation settings the policy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `security.api_keys.allow_withdraw_keys`.
    pub allow_withdraw_keys: bool,
    /// The clock window in milliseconds (default 60 000).
    pub window_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_withdraw_keys: false,
            window_ms: 60_000,
        }
    }
}

/// What [`decide`] needs.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// Upper-case method (for the extra paths).
    pub method: &'a str,
    /// The path (for the extra paths).
    pub path: &'a str,
    /// The class from the table.
    pub class: Class,
    /// The key's declared permissions.
    pub permissions: Permissions,
    /// `security.api_keys.allow_withdraw_keys`.
    pub allow_withdraw_keys: bool,
    /// A second factor was given within the step-up window.
    pub step_up_fresh: bool,
    /// The operator's extra paths for the key.
    pub extra_paths: &'a [ExtraPath],
}

/// A request the key may have signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The class it was allowed as.
    pub class: Class,
    /// The class came from an operator's extra path.
    pub via_extra_path: bool,
}

/// The rules: `read` allows `read`; `trade` allows `read` and `trade`;
/// `withdraw` allows `withdraw` only with `allow_withdraw_keys` and a fresh
/// step-up; `account-admin` allows `account-admin`; `unknown` is signed
/// only through an exact extra path of the key, with that path's class
/// and the same rules.
pub fn decide(input: &DecisionInput<'_>) -> Result<Decision, Refusal> {
    let refuse = |class: Class, reason: Reason| Refusal {
        reason,
        class,
        permissions: input.permissions,
    };
    let (class, via_extra_path) = match input.class {
        Class::Unknown => {
            let extra = input
                .extra_paths
                .iter()
                .find(|x| x.method == input.method && x.path == input.path)
                .filter(|x| x.class != Class::Unknown)
                .ok_or_else(|| {
                    refuse(
                        Class::Unknown,
                        Reason::NoExtraPath {
                            method: clip(input.method),
                            path: clip(input.path),
                        },
                    )
                })?;
            (extra.class, true)
        }
        c => (c, false),
    };
    let p = input.permissions;
    let ok = match class {
        Class::Read => p.read || p.trade,
        Class::Trade => p.trade,
        Class::AccountAdmin => p.account_admin,
        Class::Withdraw => {
            if !p.withdraw {
                false
            } else if input.allow_withdraw_keys && input.step_up_fresh {
                true
            } else {
                return Err(refuse(
                    class,
                    Reason::WithdrawNotEnabled {
                        setting_off: !input.allow_withdraw_keys,
                        step_up_missing: !input.step_up_fresh,
                    },
                ));
            }
        }
        Class::Unknown => false,
    };
    if ok {
        Ok(Decision {
            class,
            via_extra_path,
        })
    } else {
        let needs = match class {
            Class::Read => "read",
            Class::Trade => "trade",
            Class::Withdraw => "withdraw",
            Class::AccountAdmin | Class::Unknown => "account-admin",
        };
        Err(refuse(class, Reason::NotPermitted { class, needs }))
    }
}

/// What the vault signs, for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The class the request was allowed as.
    pub class: Class,
    /// It was allowed through an operator's extra path.
    pub via_extra_path: bool,
    /// The parameter names seen ([`parameter_names`]).
    pub params: Vec<String>,
    /// SHA-256 (hex) of the signed payload ([`payload_sha256`]).
    pub payload_sha256: String,
    /// The withdrawal destination, for a `withdraw` request that names one.
    pub destination: Option<Destination>,
}

/// Everything before a signature: method and path normalisation, the
/// table, the parameter allow-list (Binance, Bybit), the clock window, and
/// the permission rules ([`decide`]).
pub fn check(
    exchange: Exchange,
    req: &SignRequest,
    key: &KeyPolicy,
    now_ms: i64,
    step_up_fresh: bool,
    settings: &Settings,
) -> Result<Checked, Refusal> {
    let refuse = |class: Class| {
        move |reason: Reason| Refusal {
            reason,
            class,
            permissions: key.permissions,
        }
    };
    let (table_class, entry) =
        classify(exchange, &req.method, &req.path).map_err(refuse(Class::Unknown))?;
    if exchange == Exchange::Okx && !key.passphrase_in_headers {
        return Err(refuse(table_class)(Reason::PassphraseInHeaders));
    }
    let method = normalize_method(&req.method).map_err(refuse(Class::Unknown))?;
    let extra = key
        .extra_paths
        .iter()
        .find(|x| x.method == method && x.path == req.path);
    let (class, endpoint, allowed) = match (entry, extra) {
        (Some(e), _) => (e.class, e.endpoint(), e.params),
        (None, Some(x)) => {
            let endpoint = format!("{} {}", x.method, x.path);
            let allowed = match (&x.params, exchange) {
                (Some(_), Exchange::Binance | Exchange::Bybit) => Params::Any,
                (None, Exchange::Binance | Exchange::Bybit) => {
                    return Err(refuse(x.class)(Reason::ExtraPathNeedsParameters(
                        clip(&endpoint),
                        exchange,
                    )));
                }
                _ => Params::Any,
            };
            (x.class, endpoint, allowed)
        }
        (None, None) => {
            return Err(refuse(Class::Unknown)(Reason::UnknownEndpoint {
                exchange,
                method,
                path: clip(&req.path),
            }));
        }
    };
    let params = parameter_names(exchange, req).map_err(refuse(class))?;
    match (allowed, extra.and_then(|x| x.params.as_ref())) {
        (Params::Only(_), _) => {
            check_parameters(exchange, &method, &endpoint, allowed, class, &params)
                .map_err(refuse(class))?;
        }
        (Params::Any, Some(list)) if entry.is_none() => {
            let always = super::always_allowed(exchange);
            if let Some(n) = params
                .iter()
                .find(|n| !list.contains(n) && !always.contains(&n.as_str()))
            {
                return Err(refuse(class)(Reason::UnknownParameter {
                    name: clip(n),
                    endpoint: clip(&endpoint),
                }));
            }
        }
        _ => {}
    }
    check_freshness(exchange, req, now_ms, settings.window_ms).map_err(refuse(class))?;
    let decision = decide(&DecisionInput {
        method: &method,
        path: &req.path,
        class: table_class,
        permissions: key.permissions,
        allow_withdraw_keys: settings.allow_withdraw_keys,
        step_up_fresh,
        extra_paths: &key.extra_paths,
    })?;
    let payload_sha256 = payload_sha256(exchange, req).map_err(refuse(class))?;
    Ok(Checked {
        class: decision.class,
        via_extra_path: decision.via_extra_path,
        params,
        payload_sha256,
        destination: if decision.class == Class::Withdraw {
            destination(exchange, req)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(class: Class, perms: &str) -> DecisionInput<'static> {
        DecisionInput {
            method: "GET",
            path: "/x",
            class,
            permissions: Permissions::parse(perms).unwrap_or_default(),
            allow_withdraw_keys: false,
            step_up_fresh: false,
            extra_paths: &[],
        }
    }

    #[test]
    fn permission_names() {
        let p = Permissions::parse("read, Trade,,account-admin").unwrap_or_default();
        assert_eq!(p.to_string(), "read,trade,account-admin");
        assert!(Permissions::parse("read,admin").is_err());
        assert_eq!(Permissions::default().to_string(), "none");
    }

    #[test]
    fn rules() {
        use Class::*;
        let allowed = |c, p: &str| decide(&input(c, p)).is_ok();
        assert!(allowed(Read, "read"));
        assert!(!allowed(Trade, "read"));
        assert!(allowed(Read, "trade"));
        assert!(allowed(Trade, "trade"));
        assert!(!allowed(Withdraw, "read,trade"));
        assert!(!allowed(AccountAdmin, "read,trade,withdraw"));
        assert!(allowed(AccountAdmin, "account-admin"));
        assert!(!allowed(Read, "withdraw"));
        assert!(!allowed(Unknown, "read,trade,withdraw,account-admin"));
        let w = |setting, step_up| {
            decide(&DecisionInput {
                allow_withdraw_keys: setting,
                step_up_fresh: step_up,
                ..input(Withdraw, "withdraw")
            })
        };
        assert!(w(true, true).is_ok());
        for (s, u) in [(false, true), (true, false), (false, false)] {
            let r = w(s, u).err();
            assert_eq!(
                r.map(|r| r.reason),
                Some(Reason::WithdrawNotEnabled {
                    setting_off: !s,
                    step_up_missing: !u
                })
            );
        }
    }

    #[test]
    fn extra_paths_have_their_class_and_the_same_rules() {
        let extra =
            [ExtraPath::new("get", "/x", Class::Trade, None).unwrap_or_else(|e| panic!("{e}"))];
        let with = |perms| DecisionInput {
            extra_paths: &extra,
            ..input(Class::Unknown, perms)
        };
        assert_eq!(
            decide(&with("trade")),
            Ok(Decision {
                class: Class::Trade,
                via_extra_path: true
            })
        );
        let r = decide(&with("read")).err();
        assert_eq!(r.as_ref().map(|r| r.class), Some(Class::Trade));
        let msg = r.map(|r| r.to_string()).unwrap_or_default();
        assert!(msg.contains("`trade`") && msg.contains("`read`"), "{msg}");
        assert!(!msg.contains('\n'));
        assert!(ExtraPath::new("GET", "/x/../y", Class::Read, None).is_err());
        assert!(ExtraPath::new("GET", "/x", Class::Unknown, None).is_err());
    }
}
