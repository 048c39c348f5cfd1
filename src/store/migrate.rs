//! Versioned migrations, one SQL file per version per backend, embedded in
//! the binary. An applied migration is recorded with a digest of its text; a
//! later change to that text stops start-up instead of drifting silently.

use sha2::{Digest, Sha256};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

// `POSTGRES` and `SQLITE`: every file of `migrations/<backend>/`, in version
// order (see build.rs).
include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

fn digest(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Checks applied migrations against the embedded ones and returns those still
/// to apply.
fn pending(
    all: &'static [Migration],
    applied: &[(i64, String)],
) -> anyhow::Result<Vec<&'static Migration>> {
    for (version, stored) in applied {
        match all.iter().find(|m| m.version == *version) {
            Some(m) if digest(m.sql) == *stored => {}
            Some(m) => anyhow::bail!(
                "migration {version}_{} was changed after it was applied; add a new migration instead",
                m.name
            ),
            None => anyhow::bail!(
                "the database has migration {version}, which this binary does not know: it is older than the database"
            ),
        }
    }
    Ok(all
        .iter()
        .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
        .collect())
}

pub(crate) async fn apply_postgres(
    client: &tokio_postgres::Client,
) -> anyhow::Result<Vec<&'static str>> {
    // One transaction, serialised across servers by an advisory lock, so
    // several processes starting at once migrate exactly once.
    client
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(7317287650134);")
        .await?;
    let result = async {
        client.batch_execute(CREATE_TABLE).await?;
        let applied: Vec<(i64, String)> = client
            .query("SELECT version, digest FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut done = Vec::new();
        for m in pending(POSTGRES, &applied)? {
            client
                .batch_execute(m.sql)
                .await
                .map_err(|e| anyhow::anyhow!("migration {}_{}: {e}", m.version, m.name))?;
            client
                .execute(
                    "INSERT INTO schema_migrations (version, name, digest, applied_at) VALUES ($1, $2, $3, now()::text)",
                    &[&m.version, &m.name, &digest(m.sql)],
                )
                .await?;
            done.push(m.name);
        }
        anyhow::Ok(done)
    }
    .await;
    match result {
        Ok(done) => {
            client.batch_execute("COMMIT").await?;
            Ok(done)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

pub(crate) fn apply_sqlite(conn: &mut rusqlite::Connection) -> anyhow::Result<Vec<&'static str>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE_TABLE)?;
    let applied: Vec<(i64, String)> = tx
        .prepare("SELECT version, digest FROM schema_migrations")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut done = Vec::new();
    for m in pending(SQLITE, &applied)? {
        tx.execute_batch(m.sql)
            .map_err(|e| anyhow::anyhow!("migration {}_{}: {e}", m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, digest, applied_at) VALUES (?1, ?2, ?3, datetime('now'))",
            rusqlite::params![m.version, m.name, digest(m.sql)],
        )?;
        done.push(m.name);
    }
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_migration_is_refused() {
        let applied = vec![(1, "not the digest".to_owned())];
        assert!(pending(SQLITE, &applied).is_err());
    }

    #[test]
    fn backends_have_the_same_versions() {
        let v = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(v(POSTGRES), v(SQLITE));
    }
}
