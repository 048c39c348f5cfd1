//! `GET /api/search`: contacts, companies, leads and deals of the caller's
//! tenant matching every word typed (as a prefix, so it works while typing),
//! best matches first. PostgreSQL ranks with its text search (`ts_rank`),
//! SQLite with FTS5 (`bm25`).

use super::query_within;
use crate::auth::{RecordAccess, RecordType};
use crate::error::{ApiError, ApiResult};
use crate::store::{DbResult, Dialect, FromRow, Row, Scoped};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    /// `contact`, `company`, `lead` or `deal`.
    pub record_type: String,
    pub id: Uuid,
    pub title: String,
    /// E-mail, domain…: a second line for the result list.
    pub subtitle: Option<String>,
    /// Higher is better; comparable within one answer only.
    pub rank: f64,
}

impl FromRow for SearchHit {
    fn from_row(r: &Row<'_>) -> DbResult<Self> {
        Ok(SearchHit {
            record_type: r.get("record_type")?,
            id: r.get("id")?,
            title: r.get("title")?,
            subtitle: r.get("subtitle")?,
            rank: r.get("rank")?,
        })
    }
}

/// The words of a query: letters and digits, lowercased, 1 to 8 of them.
pub fn terms(q: &str) -> Result<Vec<String>, &'static str> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().take(50).collect())
        .take(8)
        .collect();
    if words.is_empty() {
        Err("needs at least one word of letters or digits")
    } else {
        Ok(words)
    }
}

/// Under row-level security `@@` (not leakproof) cannot use an index ahead
/// of the tenant policy, but text comparisons can: the candidates are the
/// records with a search word starting with the query's longest word ($4),
/// a range of `search_terms` within the tenant (migration 0011); `@@` then
/// checks every word on those rows only.
const POSTGRES: &str = "
    SELECT 'contact' AS record_type, c.id, trim(c.first_name || ' ' || coalesce(c.last_name, '')) AS title, c.email AS subtitle,
           CAST(ts_rank(c.search, to_tsquery('simple', $2)) AS double precision) AS rank
      FROM contacts c
     WHERE c.tenant_id = $1 AND c.search @@ to_tsquery('simple', $2) {contacts}
       AND c.id IN (SELECT t.record_id FROM search_terms t
                     WHERE t.tenant_id = $1 AND t.record_type = 'contact' AND t.term >= $4 AND t.term < $4 || chr(1114111))
    UNION ALL
    SELECT 'company', co.id, co.name, co.domain,
           CAST(ts_rank(co.search, to_tsquery('simple', $2)) AS double precision)
      FROM companies co
     WHERE co.tenant_id = $1 AND co.search @@ to_tsquery('simple', $2) {companies}
       AND co.id IN (SELECT t.record_id FROM search_terms t
                     WHERE t.tenant_id = $1 AND t.record_type = 'company' AND t.term >= $4 AND t.term < $4 || chr(1114111))
    UNION ALL
    SELECT 'lead', l.id, trim(l.first_name || ' ' || coalesce(l.last_name, '')), coalesce(l.company_name, l.email),
           CAST(ts_rank(l.search, to_tsquery('simple', $2)) AS double precision)
      FROM leads l
     WHERE l.tenant_id = $1 AND l.search @@ to_tsquery('simple', $2) {leads}
       AND l.id IN (SELECT t.record_id FROM search_terms t
                     WHERE t.tenant_id = $1 AND t.record_type = 'lead' AND t.term >= $4 AND t.term < $4 || chr(1114111))
    UNION ALL
    SELECT 'deal', d.id, d.title, d.currency,
           CAST(ts_rank(d.search, to_tsquery('simple', $2)) AS double precision)
      FROM deals d
     WHERE d.tenant_id = $1 AND d.search @@ to_tsquery('simple', $2) {deals}
       AND d.id IN (SELECT t.record_id FROM search_terms t
                     WHERE t.tenant_id = $1 AND t.record_type = 'deal' AND t.term >= $4 AND t.term < $4 || chr(1114111))
    ORDER BY rank DESC, title, id LIMIT $3";

const SQLITE: &str = "
    SELECT 'contact' AS record_type, c.id, trim(c.first_name || ' ' || coalesce(c.last_name, '')) AS title,
           c.email AS subtitle, -bm25(contacts_fts) AS rank
      FROM contacts_fts f JOIN contacts c ON c.rowid = f.rowid
     WHERE contacts_fts MATCH $2 AND f.tenant_id = $1 AND c.tenant_id = $1 {contacts}
    UNION ALL
    SELECT 'company', co.id, co.name, co.domain, -bm25(companies_fts)
      FROM companies_fts fco JOIN companies co ON co.rowid = fco.rowid
     WHERE companies_fts MATCH $2 AND fco.tenant_id = $1 AND co.tenant_id = $1 {companies}
    UNION ALL
    SELECT 'lead', l.id, trim(l.first_name || ' ' || coalesce(l.last_name, '')), coalesce(l.company_name, l.email),
           -bm25(leads_fts)
      FROM leads_fts fl JOIN leads l ON l.rowid = fl.rowid
     WHERE leads_fts MATCH $2 AND fl.tenant_id = $1 AND l.tenant_id = $1 {leads}
    UNION ALL
    SELECT 'deal', d.id, d.title, d.currency, -bm25(deals_fts)
      FROM deals_fts fd JOIN deals d ON d.rowid = fd.rowid
     WHERE deals_fts MATCH $2 AND fd.tenant_id = $1 AND d.tenant_id = $1 {deals}
    ORDER BY rank DESC, title, id LIMIT $3";

/// The records matching `q` that the caller may read.
pub async fn search(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    q: &str,
    limit: i64,
) -> ApiResult<Vec<SearchHit>> {
    let words = terms(q).map_err(|m| ApiError::field("q", m))?;
    let (sql, query) = match tx.dialect() {
        // Each word a prefix; all must match. Words are letters and digits
        // only, so nothing in them is query syntax.
        Dialect::Postgres => (
            POSTGRES,
            words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" & "),
        ),
        Dialect::Sqlite => (
            SQLITE,
            words
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    // The longest word narrows the candidates most.
    let longest = words
        .iter()
        .max_by_key(|w| w.chars().count())
        .cloned()
        .unwrap_or_default();
    // Each record type's branch keeps what the caller may read.
    let reach = [
        ("{contacts}", who.read_clause(RecordType::Contacts, "c")),
        ("{companies}", who.read_clause(RecordType::Companies, "co")),
        ("{leads}", who.read_clause(RecordType::Leads, "l")),
        ("{deals}", who.read_clause(RecordType::Deals, "d")),
    ];
    match tx.dialect() {
        Dialect::Postgres => query_within(tx, who, sql, &[&query, &limit, &longest], &reach).await,
        Dialect::Sqlite => query_within(tx, who, sql, &[&query, &limit], &reach).await,
    }
}

#[cfg(test)]
mod tests {
    use super::terms;

    #[test]
    fn queries_become_plain_words() {
        assert_eq!(
            terms("Ada  LOVE-lace").unwrap(),
            vec!["ada", "love", "lace"]
        );
        assert_eq!(
            terms("'; DROP TABLE x; --\"*:&|!").unwrap(),
            vec!["drop", "table", "x"]
        );
        assert_eq!(terms("Zoë").unwrap(), vec!["zoë"]);
        assert!(terms(" ;:* ").is_err());
    }
}
