//! SQLite backend: rusqlite, a small pool of connections, WAL journal,
//! foreign keys on for every connection, and a busy timeout.
//!
//! Statements run inline on the calling task. They take microseconds, and a
//! transaction never awaits anything but its own statements, so it runs start
//! to commit without yielding; a write transaction takes the write lock at
//! BEGIN (IMMEDIATE) and so cannot fail half-way on a lock upgrade.

use super::{sqlite_placeholders, Access, Bind, DbError, DbResult, FromRow, Row};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_IDLE: usize = 16;

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path`.
    pub fn open(path: &str) -> anyhow::Result<SqliteStore> {
        if path.is_empty() {
            anyhow::bail!("sqlite:// needs a file path, for example sqlite://./data/trasealla.db");
        }
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let first = connect(&path)?;
        first.pragma_update(None, "journal_mode", "WAL")?;
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(vec![first]),
            }),
        };
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn conn(&self) -> DbResult<Pooled> {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.inner.path).map_err(|e| DbError::Unavailable(e.to_string()))?,
        };
        Ok(Pooled {
            conn: Some(conn),
            store: self.inner.clone(),
        })
    }

    pub fn ping(&self) -> DbResult<()> {
        let conn = self.conn()?;
        conn.get()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(map_err)
    }

    pub fn begin(&self, access: Access) -> DbResult<SqliteTx> {
        let conn = self.conn()?;
        conn.get()
            .execute_batch(match access {
                Access::Read => "BEGIN DEFERRED",
                Access::Write => "BEGIN IMMEDIATE",
            })
            .map_err(map_err)?;
        Ok(SqliteTx {
            conn,
            finished: false,
        })
    }

    pub fn migrate(&self) -> anyhow::Result<Vec<&'static str>> {
        let mut conn = self.conn()?;
        super::migrate::apply_sqlite(conn.get_mut())
    }
}

fn connect(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| anyhow::anyhow!("cannot open SQLite database {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// A connection borrowed from the pool; it goes back when dropped.
struct Pooled {
    conn: Option<Connection>,
    store: Arc<Inner>,
}

impl Pooled {
    fn get(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
    fn get_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.store.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE && conn.is_autocommit() {
                idle.push(conn);
            }
        }
    }
}

pub struct SqliteTx {
    conn: Pooled,
    finished: bool,
}

impl SqliteTx {
    fn statement(
        &self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> DbResult<rusqlite::CachedStatement<'_>> {
        let mut stmt = self
            .conn
            .get()
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(map_err)?;
        if stmt.parameter_count() != params.len() {
            return Err(DbError::Other(format!(
                "statement takes {} parameters, {} given",
                stmt.parameter_count(),
                params.len()
            )));
        }
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, p.sqlite())
                .map_err(map_err)?;
        }
        Ok(stmt)
    }

    pub fn query<T: FromRow>(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<Vec<T>> {
        let mut stmt = self.statement(sql, params)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            out.push(T::from_row(&Row::Sqlite(row))?);
        }
        Ok(out)
    }

    pub fn query_opt<T: FromRow>(
        &mut self,
        sql: &str,
        params: &[&dyn Bind],
    ) -> DbResult<Option<T>> {
        let mut stmt = self.statement(sql, params)?;
        let mut rows = stmt.raw_query();
        let first = match rows.next().map_err(map_err)? {
            Some(row) => Some(T::from_row(&Row::Sqlite(row))?),
            None => None,
        };
        if first.is_some() && rows.next().map_err(map_err)?.is_some() {
            return Err(DbError::Other("query returned more than one row".into()));
        }
        Ok(first)
    }

    pub fn execute(&mut self, sql: &str, params: &[&dyn Bind]) -> DbResult<u64> {
        let mut stmt = self.statement(sql, params)?;
        let n = stmt.raw_execute().map_err(map_err)?;
        Ok(n as u64)
    }

    pub fn commit(mut self) -> DbResult<()> {
        self.finished = true;
        self.conn.get().execute_batch("COMMIT").map_err(map_err)
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.finished || !self.conn.get().is_autocommit() {
            let _ = self.conn.get().execute_batch("ROLLBACK");
        }
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let msg = msg.clone().unwrap_or_default();
        let detail = |prefix: &str| msg.strip_prefix(prefix).unwrap_or(&msg).to_owned();
        match (f.code, f.extended_code) {
            (ErrorCode::ConstraintViolation, 2067 | 1555) => {
                return DbError::Unique(detail("UNIQUE constraint failed: "))
            }
            (ErrorCode::ConstraintViolation, 787) => return DbError::ForeignKey(msg),
            (ErrorCode::ConstraintViolation, _) => return DbError::Check(msg),
            (ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked, _) => {
                return DbError::Serialization
            }
            _ => {}
        }
    }
    DbError::Other(e.to_string())
}
