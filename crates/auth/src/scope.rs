//! Roles and the scopes they grant.

use serde::{Deserialize, Serialize};

/// A name that is not a known role or scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`; use one of: {valid}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
    valid: String,
}

/// A permission an endpoint can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Create, disable, enable, unlock accounts and change roles.
    UsersManage,
    /// List accounts.
    UsersRead,
    /// Add, rotate and delete exchange API keys.
    KeysManage,
    /// See exchange API key metadata (never the secret).
    KeysRead,
    /// Have the vault sign exchange requests with a stored key.
    KeysSign,
    /// Place and cancel orders.
    TradeExecute,
    /// See positions, orders, strategies.
    TradeRead,
    /// Read the audit log.
    AuditRead,
    /// Service administration.
    SystemAdmin,
    /// Your own sessions and account.
    AccountSelf,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: [Scope; 10] = [
        Scope::UsersManage,
        Scope::UsersRead,
        Scope::KeysManage,
        Scope::KeysRead,
        Scope::KeysSign,
        Scope::TradeExecute,
        Scope::TradeRead,
        Scope::AuditRead,
        Scope::SystemAdmin,
        Scope::AccountSelf,
    ];

    /// The scope's name, e.g. `users:manage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsersManage => "users:manage",
            Scope::UsersRead => "users:read",
            Scope::KeysManage => "keys:manage",
            Scope::KeysRead => "keys:read",
            Scope::KeysSign => "keys:sign",
            Scope::TradeExecute => "trade:execute",
            Scope::TradeRead => "trade:read",
            Scope::AuditRead => "audit:read",
            Scope::SystemAdmin => "system:admin",
            Scope::AccountSelf => "account:self",
        }
    }

    fn bit(self) -> u16 {
        1 << (Scope::ALL.iter().position(|s| *s == self).unwrap_or(0) as u16)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "scope",
                name: s.chars().take(32).collect(),
                valid: Scope::ALL.map(Scope::as_str).join(", "),
            })
    }
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Trading and exchange keys.
    Trader,
    /// Read-only trading views.
    Viewer,
    /// The audit log and account list.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Trader, Role::Viewer, Role::Auditor];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Trader => "trader",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    /// The scopes the role grants.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Admin => &Scope::ALL,
            Role::Trader => &[AccountSelf, KeysRead, KeysSign, TradeExecute, TradeRead],
            Role::Viewer => &[AccountSelf, KeysRead, TradeRead],
            Role::Auditor => &[AccountSelf, AuditRead, UsersRead, TradeRead],
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "role",
                name: s.chars().take(32).collect(),
                valid: Role::ALL.map(Role::as_str).join(", "),
            })
    }
}

/// The `scope` claim for a role: space-separated, in [`Scope::ALL`] order.
pub fn scope_string(role: Role) -> String {
    Scope::ALL
        .into_iter()
        .filter(|s| role.scopes().contains(s))
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A set of scopes (a bitset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u16);

impl ScopeSet {
    /// Parses a space-separated list; unknown words are ignored.
    pub fn parse(s: &str) -> ScopeSet {
        ScopeSet(
            s.split_ascii_whitespace()
                .filter_map(|w| w.parse::<Scope>().ok())
                .fold(0, |acc, sc| acc | sc.bit()),
        )
    }

    /// The scopes of a role.
    pub fn of_role(role: Role) -> ScopeSet {
        ScopeSet(role.scopes().iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in both sets.
    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// The set of these scopes.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> ScopeSet {
        ScopeSet(scopes.into_iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in [`Scope::ALL`] order.
    pub fn scopes(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .collect()
    }
}

impl std::fmt::Display for ScopeSet {
    /// Space-separated names in [`Scope::ALL`] order (what [`ScopeSet::parse`] reads).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.scopes().into_iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>().unwrap(), r);
        }
        let e = "Admin".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("admin, trader, viewer, auditor"), "{e}");
    }

    #[test]
    fn mapping() {
        assert_eq!(
            scope_string(Role::Viewer),
            "keys:read trade:read account:self"
        );
        let t = ScopeSet::parse(&scope_string(Role::Trader));
        assert!(t.contains(Scope::TradeExecute) && !t.contains(Scope::UsersManage));
        let a = ScopeSet::of_role(Role::Admin);
        assert!(Scope::ALL.iter().all(|s| a.contains(*s)));
        assert!(!ScopeSet::parse("bogus users").contains(Scope::UsersRead));
        let both = a.intersect(ScopeSet::of_role(Role::Auditor));
        assert!(both.contains(Scope::AuditRead) && !both.contains(Scope::KeysRead));
        let v = ScopeSet::of([Scope::TradeRead, Scope::KeysRead]);
        assert_eq!(v.to_string(), "keys:read trade:read");
        assert_eq!(ScopeSet::parse(&v.to_string()), v);
        assert!(v.is_subset_of(ScopeSet::of_role(Role::Viewer)));
        assert!(!ScopeSet::of([Scope::TradeExecute]).is_subset_of(ScopeSet::of_role(Role::Viewer)));
        assert!(ScopeSet::default().is_empty() && !v.is_empty());
    }
}
