//! `secure-config --apply-db URL`: gives the Cryptobot role its password in
//! a running PostgreSQL, creating the role and database when missing.
//!
//! The password leaves this process only as a SCRAM-SHA-256 verifier
//! computed here, so neither the server, its logs nor `pg_stat_activity` ever
//! see it. Statement logging is also switched off for this session, so not
//! even the verifier is logged.

use secrecy::ExposeSecret;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::scram;
use crate::secrets::{SecretBytes, password_text};

/// What `--apply-db` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbReport {
    pub role: RoleChange,
    pub database_created: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    Created,
    PasswordSet,
    AlreadyCurrent,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("the connection is not a PostgreSQL superuser, so it cannot set role passwords")]
    NotSuperuser,
    #[error("`{0}` is not a plain PostgreSQL name")]
    BadName(String),
    #[error("PostgreSQL refused a statement: {0}")]
    Statement(#[source] sqlx::Error),
    #[error("the password contains characters that cannot be sent safely")]
    UnsafeVerifier,
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

impl DbError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DbError::Connect(_) => Some(
                "connect as the superuser over the local socket, e.g. --apply-db 'postgresql://postgres@localhost/postgres?host=/var/run/postgresql' (run as root or postgres)",
            ),
            DbError::NotSuperuser => Some("use the postgres account in the URL"),
            DbError::BadName(_) => Some("fix database.name / database.user in cryptobot.toml"),
            DbError::UnsafeVerifier => Some("run secure-config --rotate postgres_password"),
            _ => None,
        }
    }
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), DbError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(DbError::Statement)
}

/// Sets the role's password (see the module documentation).
pub async fn apply_db(
    url: &str,
    role: &str,
    database: &str,
    password: &SecretBytes,
) -> Result<DbReport, DbError> {
    for name in [role, database] {
        if !cryptobot_config::is_identifier(name) {
            return Err(DbError::BadName(name.to_string()));
        }
    }
    let password = password_text(password.expose_secret());

    let mut conn = PgConnection::connect(url).await.map_err(DbError::Connect)?;
    let is_super: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .map_err(DbError::Statement)?;
    if !is_super {
        return Err(DbError::NotSuperuser);
    }
    exec(
        &mut conn,
        "SET log_statement = 'none'; SET log_min_error_statement = 'panic'".into(),
    )
    .await?;

    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(role)
            .fetch_optional(&mut conn)
            .await
            .map_err(DbError::Statement)?;

    let new_verifier = || -> Result<String, DbError> {
        let v = scram::verifier(password).map_err(DbError::Random)?;
        if scram::is_safe_literal(&v) {
            Ok(v)
        } else {
            Err(DbError::UnsafeVerifier)
        }
    };
    let role_change = match stored {
        None => {
            let v = new_verifier()?;
            exec(
                &mut conn,
                format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{v}'"),
            )
            .await?;
            RoleChange::Created
        }
        Some(Some(current)) if scram::matches(&current, password) => {
            exec(&mut conn, format!("ALTER ROLE \"{role}\" LOGIN")).await?;
            RoleChange::AlreadyCurrent
        }
        Some(_) => {
            let v = new_verifier()?;
            exec(
                &mut conn,
                format!("ALTER ROLE \"{role}\" WITH LOGIN PASSWORD '{v}'"),
            )
            .await?;
            RoleChange::PasswordSet
        }
    };

    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(database)
        .fetch_optional(&mut conn)
        .await
        .map_err(DbError::Statement)?;
    let database_created = exists.is_none();
    if database_created {
        exec(
            &mut conn,
            format!("CREATE DATABASE \"{database}\" OWNER \"{role}\""),
        )
        .await?;
        exec(
            &mut conn,
            format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC"),
        )
        .await?;
    }
    let _ = conn.close().await;
    Ok(DbReport {
        role: role_change,
        database_created,
    })
}
