//! Keyset pagination (ARCHITECTURE.md §5): `?limit=` (default 50, max 200)
//! and an opaque `?cursor=` that encodes the last row's key, so deep pages
//! cost the same as the first.

use crate::error::{ApiError, ApiResult, FieldErrors};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// What `?cursor=` accepts: the last row's id as 32 lowercase hex digits
/// (empty: the first page). Any such text is a place in the list.
pub const CURSOR_PATTERN: &str = "^([0-9a-f]{32})?$";

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    #[param(schema_with = crate::contract::page_limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::contract::page_cursor)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    /// The key of the last row of the previous page.
    pub cursor: Option<Uuid>,
}

impl PageParams {
    pub fn parse(&self, errors: &mut FieldErrors) -> PageRequest {
        let limit = match self.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.add(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => decode_cursor(c).or_else(|| {
                errors.add("cursor", "is not a cursor this server issued");
                None
            }),
        };
        PageRequest { limit, cursor }
    }

    pub fn validate(&self) -> ApiResult<PageRequest> {
        let mut errors = FieldErrors::default();
        let page = self.parse(&mut errors);
        errors.finish().map(|_| page)
    }
}

fn decode_cursor(c: &str) -> Option<Uuid> {
    if c.len() != 32 || !c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Uuid::try_parse(c).ok()
}

fn encode_cursor(id: Uuid) -> String {
    id.simple().to_string()
}

/// One page of rows and the cursor for the next, if there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl PageRequest {
    /// For ascending lists: rows with a key above this (the nil UUID, below
    /// every id, on the first page).
    pub fn after(&self) -> Uuid {
        self.cursor.unwrap_or(Uuid::nil())
    }

    /// For descending lists: rows with a key below this (the max UUID on the
    /// first page).
    pub fn before(&self) -> Uuid {
        self.cursor.unwrap_or(Uuid::max())
    }

    /// The LIMIT to ask the database for: one more than the page, to learn
    /// whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        e.into_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_limits_are_checked() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("zz"), None);
        let p = PageParams {
            limit: Some("500".into()),
            cursor: None,
        };
        assert!(p.validate().is_err());
        let p = PageParams {
            limit: Some("2".into()),
            cursor: None,
        };
        let req = p.validate().unwrap();
        let page = req.page(vec![Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()], |u| *u);
        assert_eq!(page.items.len(), 2);
        assert!(page.next_cursor.is_some());
    }
}
