//! The one store interface over the two backends.
//!
//! SQL is written once, PostgreSQL-style (`$1`, `$2`…); the SQLite backend
//! rewrites the placeholders to `?1`, `?2`…, which SQLite binds by number.
//! Where the dialects truly differ a caller passes a [`Dialect`]-specific
//! string. Values cross the boundary through [`Bind`] and [`Decode`], which
//! map each Rust type onto the column type of each backend.
//!
//! Tenant data is reachable only through a [`TenantTx`]: it binds the tenant id
//! itself as `$1` of every statement, so repository code cannot forget it or
//! take it from anywhere else. Platform-level work (registration, the tenants
//! table, login look-ups) uses a [`PlatformTx`], a different type on purpose.

mod held;
mod migrate;
pub mod postgres;
pub mod scope;
pub mod sqlite;
mod value;

use crate::domain::TenantId;
use crate::limits::ConnectionLease;
use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;

pub use held::{Held, TxSlot};
pub use migrate::Migration;
pub use value::*;

/// The PostgreSQL migrations this binary carries (test harnesses key their
/// template databases on them).
pub fn migrations_postgres() -> &'static [Migration] {
    migrate::POSTGRES
}

/// Errors from the storage layer. Constraint violations are kept apart so the
/// services can turn them into 409s; everything else is an internal error.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("foreign key constraint violated: {0}")]
    ForeignKey(String),
    #[error("check constraint violated: {0}")]
    Check(String),
    #[error("could not serialize access; retry")]
    Serialization,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// True when the violated unique constraint is the one on `table.column`.
    /// PostgreSQL names it `<table>_<column>_key` (our migrations keep that
    /// convention); SQLite reports `table.column`.
    pub fn is_unique(&self, table: &str, column: &str) -> bool {
        match self {
            DbError::Unique(what) => {
                what == &format!("{table}_{column}_key")
                    || what
                        .split([',', ' ', ':'])
                        .any(|p| p == format!("{table}.{column}"))
            }
            _ => false,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// Whether a transaction may write. On PostgreSQL a read transaction is
/// `READ ONLY`; on SQLite a write transaction takes the write lock up front
/// (`BEGIN IMMEDIATE`) so it never fails half-way on a lock upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The store: which backend, and its connection pool.
#[derive(Clone)]
pub enum Store {
    Postgres(postgres::PgStore),
    Sqlite(sqlite::SqliteStore),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Store::Postgres(_) => "Store::Postgres",
            Store::Sqlite(_) => "Store::Sqlite",
        })
    }
}

impl Store {
    /// Limits on every tenant transaction (PostgreSQL; SQLite serialises
    /// writes and has no statement timeout): see
    /// [`postgres::PgStore::with_tenant_limits`].
    pub fn with_tenant_limits(
        self,
        statement: std::time::Duration,
        idle: std::time::Duration,
    ) -> Store {
        match self {
            Store::Postgres(pg) => Store::Postgres(pg.with_tenant_limits(statement, idle)),
            other => other,
        }
    }

    /// Pools at most `size` connections (PostgreSQL; SQLite opens one per
    /// concurrent transaction and keeps a few).
    pub fn with_pool_size(self, size: usize) -> Store {
        match self {
            Store::Postgres(pg) => Store::Postgres(pg.with_pool_size(size)),
            other => other,
        }
    }

    /// Opens the database a URL names. `postgres://` and `postgresql://` pick
    /// PostgreSQL; `sqlite://PATH` picks SQLite and creates the file (and its
    /// directory) when missing. Anything else is refused rather than guessed.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PgStore::connect(url).await?))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sqlite(sqlite::SqliteStore::open(path)?))
        } else {
            anyhow::bail!(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got {:?})",
                url.split(':').next().unwrap_or_default()
            )
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Store::Postgres(_) => Dialect::Postgres,
            Store::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Applies pending migrations; refuses to run if an applied migration's
    /// text has changed since.
    pub async fn migrate(&self) -> anyhow::Result<Vec<&'static str>> {
        match self {
            Store::Postgres(s) => s.migrate().await,
            Store::Sqlite(s) => s.migrate(),
        }
    }

    /// One cheap round trip, for health checks.
    pub async fn ping(&self) -> DbResult<()> {
        match self {
            Store::Postgres(s) => s.ping().await,
            Store::Sqlite(s) => s.ping(),
        }
    }

    /// A platform-level transaction: the tenants table, registration, login
    /// look-ups. On PostgreSQL it runs as `trasealla_platform`.
    pub async fn platform(&self, access: Access) -> DbResult<PlatformTx> {
        let tx = match self {
            Store::Postgres(s) => Tx::Pg(s.begin_platform(access).await?),
            Store::Sqlite(s) => Tx::Sqlite(s.begin(access)?),
        };
        Ok(PlatformTx { tx })
    }

    /// A tenant-scoped transaction, with `first` run as its first statement
    /// (the caller's per-request check) in the same round trip as the set-up.
    /// Only the authentication layer should call this: the tenant id must come
    /// from a verified token. The transaction holds `lease`, one of the
    /// connections its tenant may hold, until it ends.
    pub async fn tenant<T: FromRow>(
        &self,
        lease: ConnectionLease,
        access: Access,
        first: &str,
        params: &[&dyn Bind],
    ) -> DbResult<(TenantTx, Option<T>)> {
        let tenant = lease.tenant();
        let mut all: Vec<&dyn Bind> = Vec::with_capacity(params.len() + 1);
        all.push(&tenant);
        all.extend_from_slice(params);
        scope::debug_check(first);
        let (tx, row) = match self {
            Store::Postgres(s) => {
                let (tx, row) = s.begin_tenant(tenant, access, first, &all).await?;
                (Tx::Pg(tx), row)
            }
            Store::Sqlite(s) => {
                let mut tx = s.begin(access)?;
                let row = tx.query_opt(first, &all)?;
                (Tx::Sqlite(tx), row)
            }
        };
        Ok((
            TenantTx {
                tx,
                tenant,
                _lease: lease,
            },
            row,
        ))
    }
}

/// A transaction on either backend. Dropped without `commit`, it rolls back.
pub(crate) enum Tx {
    Pg(postgres::PgTx),
    Sqlite(sqlite::SqliteTx),
}

impl Tx {
    fn dialect(&self) -> Dialect {
        match self {
            Tx::Pg(_) => Dialect::Postgres,
            Tx::Sqlite(_) => Dialect::Sqlite,
        }
    }

    async fn query<T: FromRow>(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<Vec<T>> {
        match self {
            Tx::Pg(tx) => tx.query(sql, params).await,
            Tx::Sqlite(tx) => tx.query(sql, params),
        }
    }

    async fn query_opt<T: FromRow>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> DbResult<Option<T>> {
        match self {
            Tx::Pg(tx) => tx.query_opt(sql, params).await,
            Tx::Sqlite(tx) => tx.query_opt(sql, params),
        }
    }

    async fn execute(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<u64> {
        match self {
            Tx::Pg(tx) => tx.execute(sql, params).await,
            Tx::Sqlite(tx) => tx.execute(sql, params),
        }
    }

    async fn commit(self) -> DbResult<()> {
        match self {
            Tx::Pg(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit(),
        }
    }
}

/// What tenant repositories are written against: a transaction scoped to one
/// tenant, whose id every statement gets as `$1` (the caller's parameters
/// follow as `$2`, `$3`…). A [`TenantTx`] is one, opened for a verified
/// tenant user; [`PlatformTx::for_tenant`] is the other, for platform staff
/// acting on one tenant under the platform role.
pub trait Scoped: Send {
    fn tenant_id(&self) -> TenantId;

    fn dialect(&self) -> Dialect;

    fn query<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> impl Future<Output = DbResult<Vec<T>>> + Send;

    fn query_opt<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> impl Future<Output = DbResult<Option<T>>> + Send;

    fn execute(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> impl Future<Output = DbResult<u64>> + Send;

    /// Like `query_opt`, but a missing row is a bug in the caller's SQL.
    fn query_one<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> impl Future<Output = DbResult<T>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or_else(|| DbError::Other("query returned no row".into()))
        }
    }
}

/// Implements [`Scoped`] for a type with fields `tx: Tx` (or `&mut Tx`)
/// and `tenant: TenantId`.
macro_rules! scoped_impl {
    ($ty:ty) => {
        impl Scoped for $ty {
            fn tenant_id(&self) -> TenantId {
                self.tenant
            }

            fn dialect(&self) -> Dialect {
                self.tx.dialect()
            }

            async fn query<T: FromRow + Send>(
                &mut self,
                sql: &str,
                params: &[&dyn Bind],
            ) -> DbResult<Vec<T>> {
                let all = with_tenant(&self.tenant, sql, params);
                self.tx.query(sql, &all).await
            }

            async fn query_opt<T: FromRow + Send>(
                &mut self,
                sql: &str,
                params: &[&dyn Bind],
            ) -> DbResult<Option<T>> {
                let all = with_tenant(&self.tenant, sql, params);
                self.tx.query_opt(sql, &all).await
            }

            async fn execute(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<u64> {
                let all = with_tenant(&self.tenant, sql, params);
                self.tx.execute(sql, &all).await
            }
        }
    };
}

/// The statement's parameters with the tenant id first, after checking (in
/// debug builds) that the statement is scoped to it.
fn with_tenant<'a>(tenant: &'a TenantId, sql: &str, params: &[&'a dyn Bind]) -> Vec<&'a dyn Bind> {
    scope::debug_check(sql);
    let mut all: Vec<&dyn Bind> = Vec::with_capacity(params.len() + 1);
    all.push(tenant);
    all.extend_from_slice(params);
    all
}

/// The handle for a tenant user's request: a tenant-scoped transaction (on
/// PostgreSQL, as the tenant role with `app.tenant_id` set), holding one of
/// the connections its tenant may hold until it ends.
pub struct TenantTx {
    tx: Tx,
    tenant: TenantId,
    _lease: ConnectionLease,
}

scoped_impl!(TenantTx);

impl TenantTx {
    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }

    /// For a transaction that grows a table as it goes (an import): plan
    /// each statement afresh, so a plan made while the table was small (a
    /// sequential scan) is not reused once it is large. PostgreSQL only;
    /// transaction-local.
    pub async fn plan_each_time(&mut self) -> DbResult<()> {
        self.plan_cache_mode("force_custom_plan").await
    }

    /// For a statement whose best plan does not depend on its parameters
    /// but is costly to plan (search: four branches under row-level
    /// security): plan it once per connection and reuse the plan.
    pub async fn plan_once(&mut self) -> DbResult<()> {
        self.plan_cache_mode("force_generic_plan").await
    }

    async fn plan_cache_mode(&mut self, mode: &'static str) -> DbResult<()> {
        match &mut self.tx {
            Tx::Pg(tx) => {
                tx.batch(&format!("SET LOCAL plan_cache_mode = {mode}"))
                    .await
            }
            Tx::Sqlite(_) => Ok(()),
        }
    }
}

/// A platform transaction acting on one tenant's rows.
pub struct TenantScope<'a> {
    tx: &'a mut Tx,
    tenant: TenantId,
}

scoped_impl!(TenantScope<'_>);

/// The handle for platform-level tables. Named apart from [`TenantTx`] so a
/// reader sees at the call site which kind of access a function has.
pub struct PlatformTx {
    tx: Tx,
}

impl PlatformTx {
    pub fn dialect(&self) -> Dialect {
        self.tx.dialect()
    }

    /// This transaction, scoped to one tenant's rows.
    pub fn for_tenant(&mut self, tenant: TenantId) -> TenantScope<'_> {
        TenantScope {
            tx: &mut self.tx,
            tenant,
        }
    }

    pub async fn query<T: FromRow>(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<Vec<T>> {
        self.tx.query(sql, params).await
    }

    pub async fn query_opt<T: FromRow>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> DbResult<Option<T>> {
        self.tx.query_opt(sql, params).await
    }

    /// Like `query_opt`, but a missing row is a bug in the caller's SQL.
    pub async fn query_one<T: FromRow>(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<T> {
        self.query_opt(sql, params)
            .await?
            .ok_or_else(|| DbError::Other("query returned no row".into()))
    }

    pub async fn execute(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<u64> {
        self.tx.execute(sql, params).await
    }

    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        assert_eq!(
            sqlite_placeholders("SELECT $2, $10 FROM t WHERE a = $1"),
            "SELECT ?2, ?10 FROM t WHERE a = ?1"
        );
    }

    #[test]
    fn unique_violation_is_recognised_on_both_backends() {
        assert!(DbError::Unique("tenants_slug_key".into()).is_unique("tenants", "slug"));
        assert!(DbError::Unique("tenants.slug".into()).is_unique("tenants", "slug"));
        assert!(!DbError::Unique("tenants.subdomain".into()).is_unique("tenants", "slug"));
        assert!(DbError::Unique("users.tenant_id, users.username".into())
            .is_unique("users", "username"));
    }
}
