//! The tenant-scope check: every statement sent through a tenant handle must
//! constrain each tenant-owned table it touches to the handle's tenant, which
//! is always parameter `$1`. PostgreSQL's row-level security would catch a
//! miss; SQLite has nothing behind this, so debug builds (every test run, on
//! both backends) refuse a statement that fails it.
//!
//! The check is deliberately simple and strict: a table reference
//! `FROM t [alias]`, `JOIN t [alias]`, `UPDATE t [alias]` or `DELETE FROM t`
//! needs `alias.tenant_id = $1` (or bare `tenant_id = $1` when it is the only
//! table); an `INSERT INTO t (tenant_id, …) VALUES ($1, …)` must put $1 first.
//! The tenants table is keyed by `id` instead.

/// Global tables a tenant statement may read without a tenant predicate.
const GLOBAL_TABLES: &[&str] = &["plans"];

/// Returns an error naming the first table reference that is not constrained.
pub fn check(sql: &str) -> Result<(), String> {
    let norm = normalize(sql);
    let tokens: Vec<&str> = norm.split(' ').filter(|t| !t.is_empty()).collect();
    let refs = table_refs(&tokens);
    if refs.is_empty() {
        return Err(format!("no table found in statement: {sql}"));
    }
    if refs.iter().all(|r| GLOBAL_TABLES.contains(&r.table)) {
        return Err(format!(
            "statement touches no tenant table; run it outside the tenant scope: {sql}"
        ));
    }
    let single = refs.len() == 1;
    for r in &refs {
        if GLOBAL_TABLES.contains(&r.table) {
            continue;
        }
        let key = if r.table == "tenants" {
            "id"
        } else {
            "tenant_id"
        };
        if r.insert {
            let expected = format!("insert into {} ({key},", r.table);
            let glued = glue(&norm);
            let values = glued
                .split_once(" values ")
                .map(|(_, v)| {
                    v.trim_start().starts_with("($1,") || v.trim_start().starts_with("($1)")
                })
                .unwrap_or(false);
            if !(glued.contains(&expected) && values) {
                return Err(format!(
                    "INSERT INTO {} must list {key} first with value $1: {sql}",
                    r.table
                ));
            }
            continue;
        }
        let qualified = format!("{}.{key} = $1", r.alias);
        let bare = format!("{key} = $1");
        let ok = contains_pred(&norm, &qualified) || (single && contains_pred(&norm, &bare));
        if !ok {
            return Err(format!(
                "table {} (as {}) is not constrained by {key} = $1: {sql}",
                r.table, r.alias
            ));
        }
    }
    Ok(())
}

/// In debug builds, panics when `sql` fails [`check`].
pub fn debug_check(sql: &str) {
    if cfg!(debug_assertions) {
        if let Err(e) = check(sql) {
            panic!("tenant statement without tenant scope: {e}");
        }
    }
}

struct TableRef<'a> {
    table: &'a str,
    alias: &'a str,
    insert: bool,
}

const NOT_ALIASES: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "cross",
    "on",
    "set",
    "order",
    "group",
    "limit",
    "returning",
    "values",
    "using",
    "as",
    "(",
    ")",
    ",",
    "for",
    "union",
    "offset",
    "having",
];

fn table_refs<'a>(tokens: &[&'a str]) -> Vec<TableRef<'a>> {
    let mut refs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let prev = if i > 0 { tokens[i - 1] } else { "" };
        // `FOR UPDATE [OF t]` is a lock clause, not a table reference.
        let starts_ref = matches!(t, "from" | "join")
            || (t == "update" && prev != "for")
            || (t == "into" && prev == "insert");
        // `FROM f(...)` is a table-valued function (json_each), not a table.
        let function = t != "into" && tokens.get(i + 2) == Some(&"(");
        if starts_ref && !function && i + 1 < tokens.len() && tokens[i + 1] != "(" {
            let table = tokens[i + 1];
            let mut alias = table;
            let mut next = i + 2;
            if tokens.get(next) == Some(&"as") {
                next += 1;
            }
            if let Some(a) = tokens.get(next) {
                if !NOT_ALIASES.contains(a) && t != "into" {
                    alias = a;
                }
            }
            refs.push(TableRef {
                table,
                alias,
                insert: t == "into",
            });
        }
        i += 1;
    }
    refs
}

/// Lowercases, and spaces out parentheses and commas so they are tokens.
fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    for c in sql.chars() {
        match c {
            '(' | ')' | ',' => {
                out.push(' ');
                out.push(c);
                out.push(' ');
            }
            c if c.is_whitespace() => out.push(' '),
            c => out.extend(c.to_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Glues "( $1 ," back to "($1," so INSERT checks can match it.
fn glue(norm: &str) -> String {
    norm.replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
}

/// `pred` as a whole predicate: not the tail of `x.tenant_id = $1` or of
/// `other_tenant_id = $1`, and not followed by more digits (`$10`).
fn contains_pred(norm: &str, pred: &str) -> bool {
    norm.match_indices(pred).any(|(i, _)| {
        let before = norm[..i].chars().last();
        let after = norm[i + pred.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn scoped_statements_pass() {
        for sql in [
            "SELECT id FROM users WHERE tenant_id = $1 AND id = $2",
            "SELECT u.id FROM users u JOIN subscriptions s ON s.tenant_id = u.tenant_id WHERE u.tenant_id = $1 AND s.tenant_id = $1",
            "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2",
            "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
            "INSERT INTO users (tenant_id, id, email) VALUES ($1, $2, $3)",
            "SELECT name FROM tenants WHERE id = $1",
            "SELECT t.status FROM tenants t JOIN users u ON u.tenant_id = t.id WHERE t.id = $1 AND u.tenant_id = $1",
            "SELECT s.plan, p.name FROM subscriptions s JOIN plans p ON p.code = s.plan WHERE s.tenant_id = $1",
            "SELECT (SELECT count(*) FROM users WHERE users.tenant_id = $1) AS n FROM tenants WHERE tenants.id = $1",
            "SELECT t.name FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id WHERE t.id = $1 AND s.tenant_id = $1 FOR UPDATE OF t",
            "SELECT id FROM tenants WHERE id = $1 FOR UPDATE",
            "SELECT email FROM contacts WHERE tenant_id = $1 AND email IN (SELECT value FROM json_each($2))",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn unscoped_statements_fail() {
        for sql in [
            "SELECT id FROM users WHERE id = $2",
            "SELECT id FROM users WHERE other_tenant_id = $1",
            "SELECT id FROM users WHERE tenant_id = $10",
            "SELECT u.id FROM users u WHERE u.tenant_id = $12",
            "SELECT u.id FROM users u JOIN subscriptions s ON s.tenant_id = u.tenant_id WHERE u.tenant_id = $1",
            "UPDATE users SET role = $2",
            "DELETE FROM users WHERE id = $2",
            "INSERT INTO users (id, tenant_id) VALUES ($2, $1)",
            "SELECT name FROM tenants WHERE slug = $2",
            "SELECT (SELECT count(*) FROM users) AS n FROM tenants WHERE id = $1",
            "SELECT name FROM plans WHERE code = $2",
        ] {
            assert!(check(sql).is_err(), "should have failed: {sql}");
        }
    }
}
