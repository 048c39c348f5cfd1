//! References between records on the pages: a referenced record shown by
//! its name as a link, and a form's reference field as a choice of the
//! records (the first ones by name, and the current one).

use super::layout::Errors;
use crate::auth::RecordAccess;
use crate::crm::names::{self, Named, Names};
use crate::error::ApiResult;
use crate::store::Scoped;
use maud::{html, Markup};
use uuid::Uuid;

/// How many records a reference field offers.
const CHOICES: i64 = 200;

/// A referenced record: its name, linked to its page; "—" for none, and
/// "(not visible to you)" for one out of the viewer's reach.
pub fn named(names: &Names, kind: Named, id: Option<Uuid>) -> Markup {
    html! {
        @match id {
            None => "—",
            Some(id) => @match (names.get(kind, id), kind.path(id)) {
                (Some(name), Some(href)) => a href=(href) { (name) },
                (Some(name), None) => (name),
                (None, _) => span.muted { "(not visible to you)" },
            },
        }
    }
}

/// The choices of a reference field: "none" first when it may be empty,
/// then the records by name, the current one included.
pub async fn choices(
    tx: &mut impl Scoped,
    who: &RecordAccess,
    kind: Named,
    current: Option<Uuid>,
    none: Option<&str>,
) -> ApiResult<Vec<(String, String)>> {
    let mut all = names::choices(tx, who, kind, CHOICES).await?;
    if let Some(id) = current.filter(|id| !all.iter().any(|(c, _)| c == id)) {
        if let Some(name) = names::of(tx, who, kind, &[id]).await?.remove(&id) {
            all.insert(0, (id, name));
        }
    }
    Ok(none
        .map(|n| (String::new(), n.to_owned()))
        .into_iter()
        .chain(all.into_iter().map(|(id, name)| (id.to_string(), name)))
        .collect())
}

/// A reference field: a labelled choice with its error beside it.
pub fn field(
    name: &str,
    label: &str,
    choices: &[(String, String)],
    selected: &str,
    errors: &Errors,
) -> Markup {
    super::layout::select(name, label, choices, selected, errors)
}

/// An id from a form's reference field: blank is none; anything else
/// must be an id.
pub fn form_id(
    e: &mut crate::error::FieldErrors,
    field: &str,
    v: Option<&String>,
) -> Option<Option<Uuid>> {
    let v = v?.trim();
    if v.is_empty() {
        return Some(None);
    }
    e.check(
        field,
        Uuid::parse_str(v).map_err(|_| "does not name a record of this company"),
    )
    .map(Some)
}
