//! PostgreSQL backend: tokio-postgres through a deadpool pool, prepared
//! statements cached per connection, and the tenant transaction set up in the
//! same round trip as its first statement.
//!
//! A tenant transaction runs as the `trasealla_tenant` role (no BYPASSRLS, not
//! owner) with `app.tenant_id` set, both transaction-local, so row-level
//! security holds even when the configured database user is a superuser, and
//! a pooled connection never carries one tenant into the next request.

use super::{Access, Bind, DbError, DbResult, FromRow, Row};
use crate::domain::TenantId;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

pub const TENANT_ROLE: &str = "trasealla_tenant";
pub const PLATFORM_ROLE: &str = "trasealla_platform";

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// `SET LOCAL` statements of every tenant transaction's set-up: how
    /// long one statement may run, and how long the transaction may sit
    /// idle, so no request holds a connection (and its locks) for long.
    tenant_limits: std::sync::Arc<str>,
}

impl PgStore {
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))?;
        // Requests run short queries on one tenant's rows: starting parallel
        // workers costs more than it saves, and under load the workers
        // queue (search ran 2× slower with them). Set per connection, so no
        // request pays a round trip for it.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c max_parallel_workers_per_gather=0"),
            _ => "-c max_parallel_workers_per_gather=0".to_owned(),
        };
        config.options(&options);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(Duration::from_secs(5));
        let pool = Pool::builder(manager)
            .max_size(crate::config::default_pool_size())
            .timeouts(Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            })
            .runtime(Runtime::Tokio1)
            .build()?;
        Ok(PgStore {
            pool,
            tenant_limits: "".into(),
        })
    }

    /// Pools at most `size` connections.
    pub fn with_pool_size(self, size: usize) -> PgStore {
        self.pool.resize(size.max(1));
        self
    }

    /// Tenant transactions stop a statement after `statement` and end when
    /// idle for `idle` (PostgreSQL's `statement_timeout` and
    /// `idle_in_transaction_session_timeout`, transaction-local).
    pub fn with_tenant_limits(mut self, statement: Duration, idle: Duration) -> PgStore {
        self.tenant_limits = format!(
            "; SET LOCAL statement_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {}",
            statement.as_millis(),
            idle.as_millis()
        )
        .into();
        self
    }

    async fn client(&self) -> DbResult<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| DbError::Unavailable(error_chain(&e)))
    }

    pub async fn ping(&self) -> DbResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_err)?;
        Ok(())
    }

    pub async fn begin_platform(&self, access: Access) -> DbResult<PgTx> {
        // The transaction owns the connection before BEGIN is sent: if this
        // future is dropped half-way (the client hung up) or the set-up
        // fails, dropping it rolls back instead of pooling the connection
        // inside a transaction for the next request to stumble into.
        let tx = PgTx::new(self.client().await?);
        let setup = format!("{}; SET LOCAL ROLE {PLATFORM_ROLE}", begin(access));
        tx.client()?.batch_execute(&setup).await.map_err(map_err)?;
        Ok(tx)
    }

    /// Begins a tenant transaction and runs `first` in the same round trip.
    pub async fn begin_tenant<T: FromRow>(
        &self,
        tenant: TenantId,
        access: Access,
        first: &str,
        params: &[&dyn Bind],
    ) -> DbResult<(PgTx, Option<T>)> {
        // Owned by the transaction before BEGIN is sent (see begin_platform).
        let tx = PgTx::new(self.client().await?);
        // The tenant id is a parsed UUID: formatting it into the text cannot
        // inject anything, and it lets the whole set-up go as one simple query.
        let setup = format!(
            "{}; SET LOCAL ROLE {TENANT_ROLE}{}; SELECT set_config('app.tenant_id', '{}', true)",
            begin(access),
            self.tenant_limits,
            tenant.0
        );
        let client = tx.client()?;
        let stmt = client.prepare_cached(first).await.map_err(map_err)?;
        let params = pg_params(params);
        let (_, row) = tokio::try_join!(
            client.batch_execute(&setup),
            client.query_opt(&stmt, &params)
        )
        .map_err(map_err)?;
        let row = row.map(|r| T::from_row(&Row::Pg(&r))).transpose()?;
        Ok((tx, row))
    }

    pub async fn migrate(&self) -> anyhow::Result<Vec<&'static str>> {
        let client = self.client().await?;
        let applied = super::migrate::apply_postgres(&client).await?;
        let problems = audit(&client).await?;
        if !problems.is_empty() {
            anyhow::bail!(
                "the schema breaks the tenant-isolation rules:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(applied)
    }

    /// Runs the catalogue audit (see [`audit`]) on a pooled connection.
    pub async fn audit(&self) -> anyhow::Result<Vec<String>> {
        let client = self.client().await?;
        audit(&client).await
    }
}

fn begin(access: Access) -> &'static str {
    match access {
        Access::Read => "BEGIN READ ONLY",
        Access::Write => "BEGIN",
    }
}

fn pg_params<'a>(params: &'a [&'a dyn Bind]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p.pg()).collect()
}

/// A transaction on one pooled connection. Dropped without `commit`, it sends
/// ROLLBACK before the connection goes back to the pool.
pub struct PgTx {
    client: Option<Object>,
}

impl PgTx {
    fn new(client: Object) -> Self {
        PgTx {
            client: Some(client),
        }
    }

    fn client(&self) -> DbResult<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| DbError::Other("transaction already finished".into()))
    }

    pub async fn query<T: FromRow>(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<Vec<T>> {
        let client = self.client()?;
        let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
        let rows = client
            .query(&stmt, &pg_params(params))
            .await
            .map_err(map_err)?;
        rows.iter().map(|r| T::from_row(&Row::Pg(r))).collect()
    }

    pub async fn query_opt<T: FromRow>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> DbResult<Option<T>> {
        let client = self.client()?;
        let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
        let row = client
            .query_opt(&stmt, &pg_params(params))
            .await
            .map_err(map_err)?;
        row.map(|r| T::from_row(&Row::Pg(&r))).transpose()
    }

    pub async fn execute(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<u64> {
        let client = self.client()?;
        let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
        client
            .execute(&stmt, &pg_params(params))
            .await
            .map_err(map_err)
    }

    /// Runs fixed SQL text (no parameters) inside the transaction.
    pub(crate) async fn batch(&mut self, sql: &str) -> DbResult<()> {
        self.client()?.batch_execute(sql).await.map_err(map_err)
    }

    pub async fn commit(mut self) -> DbResult<()> {
        let client = self
            .client
            .take()
            .ok_or_else(|| DbError::Other("transaction already finished".into()))?;
        match client.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                // The connection's state is unknown; do not reuse it.
                let _ = Object::take(client);
                Err(map_err(e))
            }
        }
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        let _ = Object::take(client);
                    }
                });
            }
            // No runtime to roll back on: close the connection instead of
            // returning it to the pool mid-transaction.
            Err(_) => drop(Object::take(client)),
        }
    }
}

/// An error with its causes, for messages that must say what went wrong
/// ("database \"x\" does not exist", not just "db error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

pub(crate) fn map_err(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let what = db
            .constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db.message().to_owned());
        return classify(db.code(), what, db.message());
    }
    if e.is_closed() {
        return DbError::Unavailable(error_chain(&e));
    }
    DbError::Other(error_chain(&e))
}

/// A database error by its SQLSTATE. Classes 08 (connection exception) and
/// 57 (operator intervention: the server shutting down or restarting, a
/// cancelled statement) mean the database is unavailable for now: 503 with
/// Retry-After, never a 500.
fn classify(code: &SqlState, what: String, message: &str) -> DbError {
    match *code {
        SqlState::UNIQUE_VIOLATION => DbError::Unique(what),
        SqlState::FOREIGN_KEY_VIOLATION => DbError::ForeignKey(what),
        SqlState::CHECK_VIOLATION | SqlState::NOT_NULL_VIOLATION => DbError::Check(what),
        SqlState::T_R_SERIALIZATION_FAILURE | SqlState::T_R_DEADLOCK_DETECTED => {
            DbError::Serialization
        }
        _ if code.code().starts_with("08") || code.code().starts_with("57") => {
            DbError::Unavailable(format!("{}: {message}", code.code()))
        }
        _ => DbError::Other(format!("{}: {message}", code.code())),
    }
}

/// The catalogue audit of ARCHITECTURE.md §3: every table with a tenant_id
/// column has it NOT NULL, has RLS enabled and forced with a tenant policy
/// that has WITH CHECK; every primary key, unique index and tenant-to-tenant
/// foreign key includes tenant_id; tenant_id references tenants ON DELETE
/// CASCADE; the tenant role is neither superuser,
/// BYPASSRLS nor owner of anything. Returns one line per violation.
pub async fn audit(client: &tokio_postgres::Client) -> anyhow::Result<Vec<String>> {
    // The one deliberate platform-wide uniqueness: a user's e-mail is the login.
    const ALLOWED_GLOBAL_UNIQUE: &[&str] = &["users_email_key"];
    // The job queue is a platform table that tenant transactions append
    // to (under its RLS policy): its jobs may belong to no tenant, and
    // their ids and idempotency keys are platform-wide.
    const QUEUE: &str = "jobs";
    let mut problems = Vec::new();

    let tables = client
        .query(
            "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity, a.attnotnull,
                    EXISTS (SELECT 1 FROM pg_policy p
                             WHERE p.polrelid = c.oid AND p.polwithcheck IS NOT NULL
                               AND (SELECT oid FROM pg_roles WHERE rolname = $1) = ANY (p.polroles))
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              ORDER BY 1",
            &[&TENANT_ROLE],
        )
        .await?;
    if tables.is_empty() {
        problems.push("no tenant-owned tables found".to_owned());
    }
    for t in &tables {
        let name: String = t.get(0);
        for (ok, what) in [
            (t.get::<_, bool>(1), "row-level security is not enabled"),
            (t.get::<_, bool>(2), "row-level security is not forced"),
            (
                t.get::<_, bool>(3) || name == QUEUE,
                "tenant_id is nullable",
            ),
            (
                t.get::<_, bool>(4),
                "has no tenant policy with WITH CHECK for trasealla_tenant",
            ),
        ] {
            if !ok {
                problems.push(format!("{name}: {what}"));
            }
        }
    }

    let uniques = client
        .query(
            "SELECT ic.relname::text, c.relname::text
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = current_schema() AND i.indisunique
                AND NOT (a.attnum = ANY (i.indkey::int2[]))
              ORDER BY 1",
            &[],
        )
        .await?;
    for u in &uniques {
        let index: String = u.get(0);
        let table: String = u.get(1);
        if !ALLOWED_GLOBAL_UNIQUE.contains(&index.as_str()) && table != QUEUE {
            problems.push(format!(
                "{table}: unique index {index} does not include tenant_id"
            ));
        }
    }

    let fks = client
        .query(
            "SELECT con.conname::text, c.relname::text
               FROM pg_constraint con
               JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute sa ON sa.attrelid = con.conrelid AND sa.attname = 'tenant_id'
               JOIN pg_attribute da ON da.attrelid = con.confrelid AND da.attname = 'tenant_id'
              WHERE n.nspname = current_schema() AND con.contype = 'f'
                AND NOT (sa.attnum = ANY (con.conkey) AND da.attnum = ANY (con.confkey)
                         AND array_position(con.conkey, sa.attnum) = array_position(con.confkey, da.attnum))
              ORDER BY 1",
            &[],
        )
        .await?;
    for f in &fks {
        problems.push(format!(
            "{}: foreign key {} between tenant tables does not match tenant_id to tenant_id",
            f.get::<_, String>(1),
            f.get::<_, String>(0)
        ));
    }

    // Purging a tenant deletes its tenants row and relies on the cascade.
    let no_cascade = client
        .query(
            "SELECT c.relname::text
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
                AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint con
                     WHERE con.conrelid = c.oid AND con.contype = 'f'
                       AND con.confrelid = 'tenants'::regclass AND con.confdeltype = 'c'
                       AND con.conkey = ARRAY[a.attnum])
              ORDER BY 1",
            &[],
        )
        .await?;
    for t in &no_cascade {
        problems.push(format!(
            "{}: tenant_id does not reference tenants (id) ON DELETE CASCADE, so a purge would leave its rows",
            t.get::<_, String>(0)
        ));
    }

    let role = client
        .query_opt(
            "SELECT r.rolsuper, r.rolbypassrls,
                    (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
               FROM pg_roles r WHERE r.rolname = $1",
            &[&TENANT_ROLE],
        )
        .await?;
    match role {
        None => problems.push("role trasealla_tenant does not exist".to_owned()),
        Some(r) => {
            if r.get::<_, bool>(0) {
                problems.push("role trasealla_tenant is a superuser".to_owned());
            }
            if r.get::<_, bool>(1) {
                problems.push("role trasealla_tenant has BYPASSRLS".to_owned());
            }
            if r.get::<_, i64>(2) > 0 {
                problems.push("role trasealla_tenant owns tables".to_owned());
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarting_or_unreachable_database_is_unavailable() {
        for code in [
            "57P01", "57P02", "57P03", "57014", "08006", "08003", "08001",
        ] {
            let e = classify(&SqlState::from_code(code), String::new(), "terminating");
            assert!(matches!(e, DbError::Unavailable(_)), "{code}: {e:?}");
        }
        let e = classify(&SqlState::from_code("23505"), "users_email_key".into(), "");
        assert!(matches!(e, DbError::Unique(_)));
        let e = classify(
            &SqlState::from_code("42P01"),
            String::new(),
            "no such table",
        );
        assert!(matches!(e, DbError::Other(_)));
    }
}
