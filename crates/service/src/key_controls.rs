//! Managing what limits an exchange key: its grants, its permissions and
//! signing limit, its withdrawal address book, and the approvals a second
//! admin gives. Shared by the HTTP routes and `cryptobot keys …`.
//!
//! The rules:
//! - Only admins (and the host's commands) manage grants, permissions,
//!   limits and addresses; the HTTP layer also asks them for a fresh
//!   second factor.
//! - Enabling `withdraw` on a key and adding a withdrawal address wait for
//!   a second admin when the installation has two or more active admins.
//!   The admin who asked cannot approve; a request lapses after
//!   [`crate::key_access::APPROVAL_EXPIRY_HOURS`]. With one admin the change applies at once.
//! - Every change is audited; adding an address and approving a request
//!   also raise an alert.

use cryptobot_store::{Approval, Grant, Grantee, NewWithdrawAddress, StoreError, WithdrawAddress};
use serde::Serialize;
use serde_json::json;

use crate::audit::Who;
use crate::exchange_keys::{
    ExchangeKeyView, Vault, VaultOpError, new_approval, permission_names, validate_limit,
};
use crate::key_access::Access;

/// Who a grant is for, as an operator names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    /// A user, by name.
    User(String),
    /// A service API key, by id (`ak_…`).
    ApiKey(String),
}

/// A grant as listings show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantView {
    /// The exchange key.
    pub key: String,
    /// `user` or `api_key`.
    pub kind: String,
    /// The user's id or the service key's id.
    pub id: String,
    /// The username or the service key's name (absent once deleted).
    pub name: Option<String>,
    /// Who granted it.
    pub granted_by: Option<String>,
    /// When (unix seconds).
    pub granted_at: i64,
}

impl From<Grant> for GrantView {
    fn from(g: Grant) -> Self {
        let (kind, id) = match g.grantee {
            Grantee::User(id) => ("user", id),
            Grantee::ApiKey(id) => ("api_key", id),
        };
        GrantView {
            key: g.key_id,
            kind: kind.into(),
            id,
            name: g.grantee_name,
            granted_by: g.granted_by,
            granted_at: g.granted_at,
        }
    }
}

/// A withdrawal address to add.
#[derive(Debug, Clone, Default)]
pub struct NewAddress {
    /// The address (for Kraken: the withdrawal key's name on Kraken).
    pub address: String,
    /// The network or chain, when the exchange takes one.
    pub network: Option<String>,
    /// The memo or tag, when the destination needs one.
    pub memo: Option<String>,
    /// A label.
    pub label: Option<String>,
}

/// An address book entry as listings show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressView {
    /// Entry id (`wa_…`).
    pub id: String,
    /// The exchange key.
    pub key: String,
    /// The address.
    pub address: String,
    /// The network, if the entry names one.
    pub network: Option<String>,
    /// The memo, if any.
    pub memo: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Who added it.
    pub added_by: Option<String>,
    /// When (unix seconds).
    pub added_at: i64,
    /// When it took effect (unix seconds); absent while it waits for
    /// approval.
    pub active_from: Option<i64>,
    /// From when withdrawals to it are signed (unix seconds).
    pub usable_from: Option<i64>,
    /// When it was removed.
    pub removed_at: Option<i64>,
}

impl AddressView {
    fn of(a: WithdrawAddress, delay_secs: i64) -> AddressView {
        let some = |s: String| (!s.is_empty()).then_some(s);
        AddressView {
            usable_from: a.active_from.map(|t| t.saturating_add(delay_secs)),
            id: a.id,
            key: a.key_id,
            address: a.address,
            network: some(a.network),
            memo: some(a.memo),
            label: a.label,
            added_by: a.added_by,
            added_at: a.added_at,
            active_from: a.active_from,
            removed_at: a.removed_at,
        }
    }
}

/// An approval request as listings show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    /// Request id (`apr_…`).
    pub id: String,
    /// `enable-withdraw` or `add-address`.
    pub kind: String,
    /// The exchange key.
    pub key: String,
    /// What is asked: the permissions, or the address.
    pub detail: String,
    /// Who asked.
    pub requested_by: String,
    /// When (unix seconds).
    pub requested_at: i64,
    /// When it lapses.
    pub expires_at: i64,
    /// `pending`, `approved` or `expired`.
    pub status: String,
    /// Who approved it.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<i64>,
}

/// Outcome of adding an address.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressAdded {
    /// The entry.
    pub address: AddressView,
    /// The approval it waits for, when a second admin must approve.
    pub approval: Option<String>,
}

fn check_text(
    name: &str,
    v: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), VaultOpError> {
    if v.is_empty() || v.chars().count() > max || !v.chars().all(allowed) {
        return Err(VaultOpError::Invalid(format!(
            "{name} must be 1-{max} characters without spaces or control characters"
        )));
    }
    Ok(())
}

fn graphic(c: char) -> bool {
    c.is_ascii_graphic()
}

/// Checks an address to add; returns the stored form (empty for none).
fn validate_address(a: &NewAddress) -> Result<(String, String, String), VaultOpError> {
    let address = a.address.trim();
    check_text("address", address, 128, graphic)?;
    let network = a.network.as_deref().map(str::trim).unwrap_or("");
    if !network.is_empty() {
        check_text("network", network, 32, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
        })?;
    }
    let memo = a.memo.as_deref().map(str::trim).unwrap_or("");
    if !memo.is_empty() {
        check_text("memo", memo, 128, graphic)?;
    }
    if let Some(l) = &a.label
        && (l.chars().count() > 64 || l.chars().any(char::is_control))
    {
        return Err(VaultOpError::Invalid(
            "label must be at most 64 characters without control characters".into(),
        ));
    }
    Ok((address.into(), network.into(), memo.into()))
}

impl Vault<'_> {
    fn delay_secs(&self) -> i64 {
        i64::from(self.settings.security.api_keys.withdraw_address_delay_hours) * 3600
    }

    /// Only admins and the host's commands manage keys.
    fn manager(&self, access: &Access) -> Result<(), VaultOpError> {
        if access.sees_every_key() {
            Ok(())
        } else {
            Err(VaultOpError::Forbidden(format!(
                "{} may not change exchange keys; an admin can",
                access.describe()
            )))
        }
    }

    /// The grants of a key.
    pub async fn grants(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
    ) -> Result<Vec<GrantView>, VaultOpError> {
        let key = self.usable(who, access, key_id, "list grants").await?;
        Ok(self
            .store
            .exchange_key_grants(&key.id)
            .await?
            .into_iter()
            .map(GrantView::from)
            .collect())
    }

    async fn grantee(&self, target: &GrantTarget) -> Result<Grantee, VaultOpError> {
        match target {
            GrantTarget::User(name) => {
                let user = self.store.user_by_name(name.trim()).await?.ok_or_else(|| {
                    VaultOpError::Invalid(
                        "no such user; `cryptobot user list` shows them".to_string(),
                    )
                })?;
                Ok(Grantee::User(user.id))
            }
            GrantTarget::ApiKey(id) => {
                let key = self
                    .store
                    .service_key(id.trim())
                    .await?
                    .filter(|k| k.revoked_at.is_none())
                    .ok_or_else(|| {
                        VaultOpError::Invalid(
                            "no such active service API key; `cryptobot apikey list` shows them"
                                .to_string(),
                        )
                    })?;
                Ok(Grantee::ApiKey(key.id))
            }
        }
    }

    /// Lets `target` sign with the key (nothing changes when it could).
    pub async fn grant(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        target: &GrantTarget,
        now: i64,
    ) -> Result<Vec<GrantView>, VaultOpError> {
        self.manager(access)?;
        let key = self.usable(who, access, key_id, "grant").await?;
        let grantee = self.grantee(target).await?;
        if self
            .store
            .grant_exchange_key(&key.id, &grantee, who.actor.as_deref(), now)
            .await?
        {
            self.audit_grant("exchange_key_granted", who, &key.id, &grantee)
                .await;
        }
        self.grants(who, access, &key.id).await
    }

    /// Withdraws `target`'s grant; its next request is refused.
    pub async fn revoke_grant(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        target: &GrantTarget,
    ) -> Result<Vec<GrantView>, VaultOpError> {
        self.manager(access)?;
        let key = self.usable(who, access, key_id, "revoke grant").await?;
        let grantee = match target {
            // A deleted service key's grant can still be withdrawn by id.
            GrantTarget::ApiKey(id) => Grantee::ApiKey(id.trim().to_string()),
            GrantTarget::User(_) => self.grantee(target).await?,
        };
        if !self
            .store
            .revoke_exchange_key_grant(&key.id, &grantee)
            .await?
        {
            return Err(VaultOpError::Conflict(format!(
                "that {} has no grant for `{}`",
                match target {
                    GrantTarget::User(_) => "user",
                    GrantTarget::ApiKey(_) => "service API key",
                },
                key.id
            )));
        }
        self.audit_grant("exchange_key_grant_revoked", who, &key.id, &grantee)
            .await;
        self.grants(who, access, &key.id).await
    }

    async fn audit_grant(&self, event: &str, who: &Who, key: &str, grantee: &Grantee) {
        let (kind, id) = match grantee {
            Grantee::User(id) => ("user", id),
            Grantee::ApiKey(id) => ("api_key", id),
        };
        crate::audit::record_audit(
            self.store,
            event,
            who,
            Some(key),
            "success",
            json!({"grantee_kind": kind, "grantee": id}),
        )
        .await;
    }

    /// Replaces the key's declared permissions. Narrowing applies at once;
    /// adding `withdraw` needs `allow_withdraw_keys` and, with two or more
    /// admins, a second admin's approval (the rest applies at once).
    pub async fn set_permissions(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<ExchangeKeyView, VaultOpError> {
        self.manager(access)?;
        let key = self.usable(who, access, key_id, "set permissions").await?;
        let wanted = permission_names(permissions)?;
        let list = wanted.join(",");
        if list.is_empty() {
            return Err(VaultOpError::Invalid(
                "declare at least one permission (read, trade, withdraw, account-admin); to stop a key, revoke it".into(),
            ));
        }
        let adds_withdraw =
            wanted.contains(&"withdraw") && !key.permissions.split(',').any(|p| p == "withdraw");
        if adds_withdraw && !self.settings.security.api_keys.allow_withdraw_keys {
            return Err(VaultOpError::Invalid(
                "withdraw is refused: set security.api_keys.allow_withdraw_keys = true first (a trading bot never needs it)".into(),
            ));
        }
        let (now_list, approval) = self
            .withdraw_waits(who, access, &key.id, &list, adds_withdraw, now)
            .await?;
        if now_list != key.permissions {
            if !self
                .store
                .set_exchange_key_permissions(&key.id, &now_list)
                .await?
            {
                return Err(VaultOpError::Revoked(key.id));
            }
            self.audit_key(
                "exchange_key_permissions_changed",
                who,
                &key.id,
                json!({"from": key.permissions, "to": now_list}),
            )
            .await;
        }
        if let Some(a) = &approval {
            self.store.request_approval(a).await?;
            self.approval_requested(who, a).await;
        }
        self.view(&key.id, now).await
    }

    /// Sets the key's own signing limit per minute (`None`: the
    /// installation's `max_signatures_per_minute`).
    pub async fn set_limit(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        per_minute: Option<u32>,
        now: i64,
    ) -> Result<ExchangeKeyView, VaultOpError> {
        self.manager(access)?;
        if let Some(n) = per_minute {
            validate_limit(n)?;
        }
        let key = self.usable(who, access, key_id, "set limit").await?;
        if !self
            .store
            .set_exchange_key_limit(&key.id, per_minute.map(i64::from))
            .await?
        {
            return Err(VaultOpError::Revoked(key.id));
        }
        self.audit_key(
            "exchange_key_limit_changed",
            who,
            &key.id,
            json!({"max_signatures_per_minute": per_minute, "default": self.settings.security.api_keys.max_signatures_per_minute}),
        )
        .await;
        self.view(&key.id, now).await
    }

    async fn audit_key(&self, event: &str, who: &Who, key: &str, details: serde_json::Value) {
        crate::audit::record_audit(self.store, event, who, Some(key), "success", details).await;
    }

    /// The key's address book.
    pub async fn addresses(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        include_removed: bool,
    ) -> Result<Vec<AddressView>, VaultOpError> {
        let key = self.usable(who, access, key_id, "list addresses").await?;
        let delay = self.delay_secs();
        Ok(self
            .store
            .withdraw_addresses(&key.id, include_removed)
            .await?
            .into_iter()
            .map(|a| AddressView::of(a, delay))
            .collect())
    }

    /// Adds a withdrawal address (audited and alerted). It is usable
    /// `withdraw_address_delay_hours` after it takes effect: at once with
    /// one admin, on approval with two or more.
    pub async fn add_address(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        new: &NewAddress,
        now: i64,
    ) -> Result<AddressAdded, VaultOpError> {
        self.manager(access)?;
        let (address, network, memo) = validate_address(new)?;
        let key = self.usable(who, access, key_id, "add address").await?;
        let id = format!("wa_{}", crate::exchange_keys::random_id()?);
        let approval = if self.needs_second_admin().await? {
            Some(new_approval(
                "add-address",
                &key.id,
                id.clone(),
                who,
                access,
                now,
            )?)
        } else {
            None
        };
        let row = NewWithdrawAddress {
            id: id.clone(),
            key_id: key.id.clone(),
            address,
            network,
            memo,
            label: new.label.clone().filter(|l| !l.trim().is_empty()),
            added_by: who.actor.clone(),
            now,
            pending_approval: approval.clone(),
        };
        match self.store.add_withdraw_address(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(VaultOpError::Conflict(
                    "that address (with this network and memo) is already in the key's book".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let view = AddressView::of(
            WithdrawAddress {
                id: row.id,
                key_id: row.key_id,
                address: row.address,
                network: row.network,
                memo: row.memo,
                label: row.label,
                added_by: row.added_by,
                added_at: now,
                active_from: approval.is_none().then_some(now),
                removed_at: None,
            },
            self.delay_secs(),
        );
        tracing::warn!(
            target: "alert",
            key = %key.id,
            entry = %view.id,
            pending_approval = approval.is_some(),
            "a withdrawal address was added to an exchange key"
        );
        self.audit_key(
            "withdraw_address_added",
            who,
            &key.id,
            json!({"entry": view.id, "address": view.address, "network": view.network, "memo_set": view.memo.is_some(), "usable_from": view.usable_from, "approval": approval.as_ref().map(|a| a.id.clone())}),
        )
        .await;
        if let Some(a) = &approval {
            self.approval_requested(who, a).await;
        }
        Ok(AddressAdded {
            address: view,
            approval: approval.map(|a| a.id),
        })
    }

    /// Removes an address from the book (at once, no approval: it only
    /// narrows what can be signed).
    pub async fn remove_address(
        &self,
        who: &Who,
        access: &Access,
        key_id: &str,
        entry: &str,
        now: i64,
    ) -> Result<(), VaultOpError> {
        self.manager(access)?;
        let key = self.usable(who, access, key_id, "remove address").await?;
        if !self
            .store
            .remove_withdraw_address(&key.id, entry.trim(), now)
            .await?
        {
            return Err(VaultOpError::NotFound(format!(
                "{} in the address book of {}",
                entry.chars().take(40).collect::<String>(),
                key.id
            )));
        }
        self.audit_key(
            "withdraw_address_removed",
            who,
            &key.id,
            json!({"entry": entry.trim()}),
        )
        .await;
        Ok(())
    }

    async fn approval_view(&self, a: Approval, now: i64) -> Result<ApprovalView, VaultOpError> {
        let r = &a.request;
        let detail = match r.kind.as_str() {
            "enable-withdraw" => format!("permissions {}", r.payload),
            _ => match self
                .store
                .withdraw_addresses(&r.key_id, true)
                .await?
                .into_iter()
                .find(|x| x.id == r.payload)
            {
                Some(x) if x.network.is_empty() => format!("address {}", x.address),
                Some(x) => format!("address {} on {}", x.address, x.network),
                None => format!("address entry {}", r.payload),
            },
        };
        let status = match (&a.outcome, a.pending(now)) {
            (Some(o), _) => o.clone(),
            (None, true) => "pending".into(),
            (None, false) => "expired".into(),
        };
        Ok(ApprovalView {
            id: a.request.id,
            kind: a.request.kind,
            key: a.request.key_id,
            detail,
            requested_by: a.request.requested_by,
            requested_at: a.request.requested_at,
            expires_at: a.request.expires_at,
            status,
            decided_by: a.decided_by,
            decided_at: a.decided_at,
        })
    }

    /// Approval requests (only pending ones unless asked), after lapsed
    /// ones are marked expired.
    pub async fn approvals(
        &self,
        include_decided: bool,
        now: i64,
    ) -> Result<Vec<ApprovalView>, VaultOpError> {
        self.sweep(now).await?;
        let mut out = Vec::new();
        for a in self.store.approvals(include_decided).await? {
            out.push(self.approval_view(a, now).await?);
        }
        Ok(out)
    }

    /// A second admin approves a request: it applies at once (audited and
    /// alerted). The admin who asked cannot approve it.
    pub async fn approve(
        &self,
        who: &Who,
        approver: &Access,
        request: &str,
        now: i64,
    ) -> Result<ApprovalView, VaultOpError> {
        let Access::User {
            id: approver_id,
            name,
            admin: true,
        } = approver
        else {
            return Err(VaultOpError::Forbidden(
                "only an admin approves; on the host, name one with `--as NAME`".into(),
            ));
        };
        self.sweep(now).await?;
        let found = self
            .store
            .approval(request.trim())
            .await?
            .ok_or_else(|| VaultOpError::NotFound(request.chars().take(40).collect()))?;
        if !found.pending(now) {
            return Err(VaultOpError::Conflict(format!(
                "request {} is not pending (it was {})",
                found.request.id,
                found.outcome.as_deref().unwrap_or("expired")
            )));
        }
        if found.request.requested_by_user.as_deref() == Some(approver_id.as_str()) {
            return Err(VaultOpError::Forbidden(
                "the admin who asked cannot approve the request; another admin must".into(),
            ));
        }
        let Some(done) = self.store.approve(&found.request.id, name, now).await? else {
            return Err(VaultOpError::Conflict(format!(
                "request {} could not be applied (decided meanwhile, or its key was revoked)",
                found.request.id
            )));
        };
        tracing::warn!(target: "alert", key = %done.request.key_id, request = %done.request.id, kind = %done.request.kind, approver = %name, "an exchange key change was approved and applied");
        self.audit_key(
            "approval_granted",
            who,
            &done.request.key_id,
            json!({"request": done.request.id, "kind": done.request.kind, "payload": done.request.payload, "requested_by": done.request.requested_by}),
        )
        .await;
        self.approval_view(done, now).await
    }
}

/// The host's way to name the second admin (`cryptobot keys approve
/// REQUEST --as NAME`): that admin's password, and a current code when
/// they have MFA, make them the approver. A wrong password or code is
/// audited (`approver_check_failed`) and refused.
pub async fn approver_by_credentials(
    vault: &Vault<'_>,
    hasher: &cryptobot_auth::PasswordHasher,
    who: &Who,
    username: &str,
    password: secrecy::SecretString,
    code: Option<&str>,
    now: i64,
) -> Result<Access, VaultOpError> {
    let refused = || {
        VaultOpError::Forbidden(format!(
            "the password or second factor of admin `{}` is not right, or there is no such active admin",
            username.chars().take(64).collect::<String>()
        ))
    };
    let user = vault
        .store
        .user_by_name(username.trim())
        .await?
        .filter(|u| u.role == "admin" && !u.disabled);
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let hasher = hasher.clone();
    let matched = tokio::task::spawn_blocking(move || match phc {
        Some(phc) => matches!(
            hasher.verify(&password, &phc),
            cryptobot_auth::PasswordCheck::Match { .. }
        ),
        None => {
            hasher.verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let fail = |reason: &'static str| async move {
        crate::audit::record_audit(
            vault.store,
            "approver_check_failed",
            who,
            Some(username),
            "denied",
            json!({"reason": reason}),
        )
        .await;
    };
    let Some(user) = user.filter(|_| matched) else {
        fail("password").await;
        return Err(refused());
    };
    if user.mfa_enabled {
        let Some(code) = code else {
            fail("second_factor_missing").await;
            return Err(VaultOpError::Forbidden(format!(
                "admin `{}` has MFA: give a current code too",
                user.username
            )));
        };
        let keys = crate::exchange_keys::mfa_keys(vault.store, vault.keys, now).await?;
        if crate::mfa::check_code(vault.store, &keys, &user, code, who, now)
            .await
            .is_err()
        {
            return Err(refused());
        }
    }
    Ok(Access::User {
        id: user.id,
        name: user.username,
        admin: true,
    })
}
